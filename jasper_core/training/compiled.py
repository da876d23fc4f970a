"""The optional ``torch.compile`` path of the training step (``train.compile``).

What is compiled is :func:`jasper_core.training.step.forward_losses`: the target encoding of the
centroids, the source and its negatives, the model's forward and the losses, traced as one graph
(the contracts built in it are traceable: :mod:`jasper_core.contracts.traceable`); backward follows
through AOTAutograd. The gradient clipping, the fused optimiser and the EMA stay eager (a handful of
multi-tensor kernels). ``reduce-overhead`` replays the forward and backward as CUDA graphs on a GPU.
A plugin that reads ``state.step`` or ``state.progress`` in its forward (a temperature or target
schedule) makes dynamo recompile as the value changes; past its recompile limit that frame runs
eagerly (correct, not faster).
"""

from __future__ import annotations

from typing import Callable

import torch


def compile_step(fn: Callable, mode: str) -> Callable:
    """``fn`` compiled with ``torch.compile(mode=mode)``."""
    return torch.compile(fn, mode=mode)
