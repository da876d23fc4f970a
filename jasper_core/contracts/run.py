"""What lifecycle hooks receive about the run in progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs


@attrs.define(kw_only=True)
class RunInfo:
    """The run, as loggers and callbacks see it.

    Attributes:
        run_dir: the run directory (checkpoints, history, plots, eval.json live here).
        recipe: the resolved recipe as plain data.
        recipe_name: where the recipe came from.
        epochs / steps_per_epoch / total_steps: the run's length.
        start_epoch: first epoch this process trains (> 1 after a resume).
        resumed: whether the run continued from a checkpoint.
        logger_state: per-logger data stored in checkpoints (e.g. a wandb run id).
        dataset: a short description of the dataset (path, sizes).
        world_size / rank: processes in the job (``torchrun``) and this one's rank; only rank 0
            runs the loggers, so a logger sees ``rank == 0``.
        batch_size: pairs per device per step; ``global_batch_size`` = ``batch_size × world_size``.
        gathered_losses: the loss terms that gather rows from every rank (see ``LossInputs.gather_rows``).
    """

    run_dir: Path
    recipe: dict[str, Any]
    recipe_name: str
    epochs: int
    steps_per_epoch: int
    total_steps: int
    start_epoch: int = 1
    resumed: bool = False
    logger_state: dict[str, Any] = attrs.field(factory=dict)
    dataset: dict[str, Any] = attrs.field(factory=dict)
    world_size: int = 1
    rank: int = 0
    batch_size: int = 0
    gathered_losses: tuple[str, ...] = ()

    @property
    def global_batch_size(self) -> int:
        """Pairs per optimiser step over all ranks."""
        return self.batch_size * self.world_size
