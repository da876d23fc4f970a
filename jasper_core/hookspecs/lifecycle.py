"""Lifecycle hooks, called by the trainer on every registered logger or callback.

All receive ``run``, a :class:`jasper_core.RunInfo` (run directory, resolved recipe, step counts,
a ``logger_state`` dict persisted in checkpoints). Return values are ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from jasper_core.hookspecs.markers import hookspec

if TYPE_CHECKING:
    from jasper_core.contracts import EvalResults, RunInfo


@hookspec
def jasper_run_start(run: RunInfo) -> None:
    """Start of a run (also after a resume; ``run.resumed`` tells)."""


@hookspec
def jasper_epoch_start(run: RunInfo, epoch: int) -> None:
    """Before an epoch's first step.

    Args:
        epoch: the epoch about to start (1-based).
    """


@hookspec
def jasper_step_end(run: RunInfo, step: int, metrics: Mapping[str, float]) -> None:
    """After an optimiser step.

    Args:
        step: the global step just completed (1-based).
        metrics: plain floats: every loss component, ``lr``, ``ema_decay``, ``grad_norm``, ...
    """


@hookspec
def jasper_epoch_end(run: RunInfo, epoch: int, metrics: Mapping[str, float]) -> None:
    """After an epoch's training steps (before its evaluation).

    Args:
        epoch: the epoch just completed (1-based).
        metrics: epoch means of the step metrics plus health figures and throughput.
    """


@hookspec
def jasper_eval_end(run: RunInfo, epoch: int, split: str, results: EvalResults) -> None:
    """After a retrieval evaluation.

    Args:
        epoch: 0 for the evaluation before training.
        split: ``"val"`` or ``"test"``.
        results: the figures (``results.model`` per steering variant, ``results.baselines``,
            ``results.flat()`` for every figure under a slash path).
    """


@hookspec
def jasper_checkpoint_saved(run: RunInfo, path: str, tags: tuple[str, ...]) -> None:
    """After a checkpoint was written atomically.

    Args:
        path: the file written.
        tags: e.g. ``("last",)``, ``("last", "best")``, ``("epoch",)``.
    """


@hookspec
def jasper_run_end(run: RunInfo, status: str, metrics: EvalResults | None) -> None:
    """End of a run.

    Args:
        status: ``"completed"``, ``"stopped"`` (non-finite loss), ``"interrupted"`` (Ctrl-C) or
            ``"failed"`` (any other error).
        metrics: the final evaluation (best checkpoint on ``eval.final_split``), or None.
    """
