"""Which plugins read the training step: what a captured step (``train.cuda_graph``) would freeze.

A CUDA graph replays the kernels of the step it captured; Python does not run again. A model or a
loss that turns ``state.step`` (or ``state.progress``) into a Python number — a temperature or
target schedule — would replay the captured step's value forever. Before capturing, one step runs
eagerly with a :class:`StepReads` state, which records every read of ``step``.
"""

from __future__ import annotations

import torch

from jasper_core.contracts import StepState


class StepReads(StepState):
    """A :class:`StepState` that adds ``"step"`` to ``reads`` whenever its step is read (``progress`` reads it)."""

    __slots__ = ("reads",)

    def __init__(self, *, step: int, total_steps: int, centroids: torch.Tensor, reads: set[str] | None = None) -> None:
        super().__init__(step=step, total_steps=total_steps, centroids=centroids)
        object.__setattr__(self, "reads", set() if reads is None else reads)

    def __getattribute__(self, name: str):
        if name == "step":
            object.__getattribute__(self, "reads").add(name)
        return object.__getattribute__(self, name)
