"""The optional ``torch.compile`` path of the training step (``train.compile``).

What is compiled is the model's forward and the losses (:func:`jasper_core.training.step.model_losses`);
backward follows through AOTAutograd. The target encoding, the optimiser and the EMA stay eager (no
gradients, one fused kernel, three multi-tensor kernels). ``reduce-overhead`` adds CUDA graphs on a
GPU. A model that reads ``state.step`` in its forward (e.g. a temperature schedule) is recompiled as
the step changes until dynamo treats it as dynamic; past its recompile limit it runs eagerly.
"""

from __future__ import annotations

from typing import Callable

import torch

from jasper_core.contracts import LossInputs, Prediction


def _construct_eagerly(*classes: type) -> None:
    """Let dynamo step over the constructors of the frozen attrs contracts (it cannot trace their
    ``object.__setattr__``, torch 2.13): each construction becomes a graph break instead of an error."""
    for cls in classes:
        if not getattr(cls.__init__, "_jasper_eager", False):
            init = torch.compiler.disable(cls.__init__)
            init._jasper_eager = True
            cls.__init__ = init


def compile_losses(fn: Callable, mode: str) -> Callable:
    """``fn`` compiled with ``torch.compile(mode=mode)``."""
    _construct_eagerly(Prediction, LossInputs)
    return torch.compile(fn, mode=mode)
