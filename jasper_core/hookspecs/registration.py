"""Registration hooks: one per component kind.

Each receives a ``registry`` whose ``add(name, factory, config=AttrsClass)`` registers a
component on behalf of the calling plugin. Return values are ignored. A name that is already
taken raises and names both plugins. What ``factory`` is called with depends on the kind and is
documented on each hook. Components nested in a config (fields declared with
``jasper_core.recipe.component(kind, default)``, e.g. a model's ``router`` or a loss's schedule) are
built first and passed to the factory as keyword arguments named after the field.
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
            object implementing :class:`jasper_core.Dataset`.
    """


@hookspec
def jasper_register_models(registry: Registrar) -> None:
    """Register predictor models.

    Args:
        registry: ``factory(config, *, dim, num_clusters, centroids, encoder, **nested)`` returns
            a :class:`jasper_core.Predictor` (``(question [B,D], steering [B,D], state: StepState)
            -> Prediction``); ``centroids`` is ``[C,D]`` in the raw embedding space, ``encoder``
            the online encoder to use on the question path; ``nested`` holds the built components
            of the model's own config (a model that routes declares ``router`` there).
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
        registry: ``factory(config, *, dim, num_clusters, centroids, **nested)`` returns a
            :class:`jasper_core.Router` mapping ``(question [B,D], steering [B,D], state:
            StepState) -> (weights [B,C], logits [B,C])``; ``centroids`` is ``[C,D]`` (raw space),
            ``state.centroids`` the target-space ones of the current step.
    """


@hookspec
def jasper_register_losses(registry: Registrar) -> None:
    """Register loss terms.

    Args:
        registry: ``factory(config, **nested)`` returns a module called with
            :class:`jasper_core.LossInputs` that returns a dict of scalar tensors with the key
            ``"loss"`` (the term to weight) and any further components to log.
    """


@hookspec
def jasper_register_schedules(registry: Registrar) -> None:
    """Register schedules: pure functions of the training position.

    Args:
        registry: ``factory(config)`` returns a callable ``(step, total_steps) -> value`` (a float,
            or a sequence of floats for the steering curriculum). A component that needs a
            schedule declares a nested schedule field and evaluates it with its step state.
    """


@hookspec
def jasper_register_metrics(registry: Registrar) -> None:
    """Register evaluation metrics.

    Args:
        registry: ``factory(config)`` returns a callable ``(ctx: jasper_core.EvalContext) ->
            jasper_core.EvalResults``.
    """


@hookspec
def jasper_register_loggers(registry: Registrar) -> None:
    """Register loggers.

    Args:
        registry: ``factory(config, *, run_dir)`` returns an object implementing any of the
            lifecycle hooks in :mod:`jasper_core.hookspecs.lifecycle` (marked with ``hookimpl``);
            the trainer registers it with the plugin manager for the duration of a run.
    """


@hookspec
def jasper_register_embedders(registry: Registrar) -> None:
    """Register text embedders (what turns query and corpus texts into raw embeddings at search time).

    Args:
        registry: ``factory(config, *, model_name)`` returns a callable ``texts (list[str]) -> [N, D]``
            float tensor of L2-normalised embeddings from the embedding model ``model_name``.
    """
