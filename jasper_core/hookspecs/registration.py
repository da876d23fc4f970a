"""Registration hooks: one per component kind.

Each receives a ``registry`` whose ``add(name, factory, config=AttrsClass)`` registers a
component on behalf of the calling plugin. Return values are ignored. A name that is already
taken raises and names both plugins. What ``factory`` is called with depends on the kind and is
documented on each hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jasper_core.hookspecs.markers import hookspec

if TYPE_CHECKING:
    from jasper_core.registry import Registrar


@hookspec
def jasper_register_datasets(registry: Registrar) -> None:
    """Register datasets.

    Args:
        registry: ``add(name, factory, config=...)``; ``factory(config, *, device)`` returns an
            object implementing :class:`jasper_core.data.Dataset`.
    """


@hookspec
def jasper_register_models(registry: Registrar) -> None:
    """Register predictor models.

    Args:
        registry: ``factory(config, *, dim, num_clusters, centroids, encoder, router)`` returns a
            :class:`jasper_core.model.Predictor` (``[B,D], [B,D] -> Prediction``); ``centroids``
            is ``[C,D]`` in the raw embedding space, ``encoder`` the online encoder to use on the
            question path, ``router`` the recipe's ``[routing.router]`` (use it or ignore it).
    """


@hookspec
def jasper_register_encoders(registry: Registrar) -> None:
    """Register online encoders (the network the EMA target encoder follows).

    Args:
        registry: ``factory(config, *, dim)`` returns a ``torch.nn.Module`` mapping ``[N,D] -> [N,D]``.
    """


@hookspec
def jasper_register_routers(registry: Registrar) -> None:
    """Register subspace routers.

    Args:
        registry: ``factory(config, *, dim, num_clusters, centroids)`` returns a module mapping
            ``(question [B,D], steering [B,D], temperature) -> (weights [B,C], logits [B,C])``;
            ``centroids`` is ``[C,D]`` (raw space); a ``set_centroids(centroids)`` method, if present,
            receives the target-space centroids before each forward pass.
    """


@hookspec
def jasper_register_losses(registry: Registrar) -> None:
    """Register loss terms.

    Args:
        registry: ``factory(config)`` returns a module called with
            :class:`jasper_core.losses.LossInputs` that returns a dict of scalar tensors with
            the key ``"loss"`` (the term to weight) and any further components to log.
    """


@hookspec
def jasper_register_schedules(registry: Registrar) -> None:
    """Register schedules: pure functions of the training position.

    Args:
        registry: ``factory(config)`` returns a callable ``(step, total_steps) -> value``.
    """


@hookspec
def jasper_register_metrics(registry: Registrar) -> None:
    """Register evaluation metrics.

    Args:
        registry: ``factory(config)`` returns a callable ``(evaluator_inputs) -> dict``.
    """


@hookspec
def jasper_register_loggers(registry: Registrar) -> None:
    """Register loggers.

    Args:
        registry: ``factory(config, *, run_dir)`` returns an object implementing any of the
            lifecycle hooks in :mod:`jasper_core.hookspecs.lifecycle` (marked with ``hookimpl``);
            the trainer registers it with the plugin manager for the duration of a run.
    """
