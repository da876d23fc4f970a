"""Which plugins read the training step: what a captured step (``train.cuda_graph``) would freeze.

A CUDA graph replays the kernels of the step it captured; Python does not run again. A model or a
loss that turns ``state.step`` (or ``state.progress``) into a Python number — a temperature or
target schedule — would replay the captured step's value forever. Before capturing, one step runs
eagerly with a :class:`StepReads` state, which records every read of ``step``, and under
:class:`HostReads`, which records the first read of a tensor's values on the host (``.item()``,
``float(tensor)``, a value-dependent shape): a capture would fail there.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

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


#: aten operators that need a tensor's values on the host: ``.item()``, ``float()``, ``int()``, ``bool()``
#: of a tensor (``_local_scalar_dense``) and results whose shape depends on the values.
HOST_READ_OPS = ("_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique2", "repeat_interleave")


class HostReads(TorchDispatchMode):
    """While active (``with HostReads() as reads:``), records the first operator that reads tensor
    values on the host — what a captured CUDA graph cannot do — and the line of code that asked
    for it (the innermost frame outside PyTorch): ``first`` is ``(operator, "file:line")`` or None."""

    def __init__(self) -> None:
        super().__init__()
        self.first: tuple[str, str] | None = None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if self.first is None:
            op = func.__name__.split(".")[0]  # "_local_scalar_dense.default" → "_local_scalar_dense"
            if op in HOST_READ_OPS:
                self.first = (op, _caller())
        return func(*args, **(kwargs or {}))


def _caller() -> str:
    """``path:line`` of the innermost stack frame outside PyTorch and this module."""
    skip = (str(Path(torch.__file__).parent), __file__)
    for frame in reversed(traceback.extract_stack()):
        if not frame.filename.startswith(skip):
            return f"{frame.filename}:{frame.lineno}"
    return "?"
