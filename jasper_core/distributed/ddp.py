"""Wrap a built training set-up for data-parallel training with PyTorch's DDP.

The target space was made from the unwrapped model (``assemble``), so it follows the very online
encoder DDP keeps identical on every rank: after each optimiser step the EMA update reads the same
weights everywhere, and the EMA target stays identical on every rank without being communicated.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from jasper_core.contracts import Prediction, StepState
from jasper_core.distributed.collectives import broadcast_module
from jasper_core.distributed.world import World


class _Outputs(nn.Module):
    """The model with its :class:`Prediction` returned as a tuple DDP can look into (it finds the
    parameters that took no part in a step by walking back from the output tensors)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, question: torch.Tensor, steering: torch.Tensor, state: StepState):
        out = self.model(question, steering, state)
        return out.prediction, dict(out.explanation)


class DataParallelPredictor(nn.Module):
    """Calls the model through DDP and gives back a :class:`Prediction`, like the bare model."""

    def __init__(self, ddp: DistributedDataParallel) -> None:
        super().__init__()
        self.ddp = ddp

    def forward(self, question: torch.Tensor, steering: torch.Tensor, state: StepState) -> Prediction:
        prediction, explanation = self.ddp(question, steering, state)
        return Prediction(prediction, explanation)


def _average_gradient(param: torch.Tensor) -> None:
    dist.all_reduce(param.grad)
    param.grad /= dist.get_world_size()


def wrap(setup: Any, world: World) -> DataParallelPredictor | None:
    """Return ``setup.model`` wrapped in DDP (None in a one-process job).

    The model keeps its place in ``setup.model`` (checkpoints, evaluation and the EMA read the
    unwrapped module); training forward passes go through the wrapper. Loss-weighting parameters
    (``train.loss_weighting = "uncertainty"``) live outside the model: their gradients are averaged
    over ranks as they are accumulated. The target space is copied from rank 0 so that a target
    restored or initialised anywhere starts identical.
    """
    if not world.distributed:
        return None
    device = setup.device
    ddp = DistributedDataParallel(
        _Outputs(setup.model),
        device_ids=[device.index] if device.type == "cuda" else None,
        # a model whose parameters sit out some steps needs JASPER_DDP_FIND_UNUSED=1 (DDP names them when it fails)
        find_unused_parameters=os.environ.get("JASPER_DDP_FIND_UNUSED", "0") == "1",
        # the gradients are views into DDP's all-reduce buckets: no copy back after each all-reduce
        gradient_as_bucket_view=True,
    )
    for param in setup.composer.parameters():
        if param.requires_grad:
            param.register_post_accumulate_grad_hook(_average_gradient)
    broadcast_module(setup.composer, world)
    broadcast_module(setup.target_space, world)
    return DataParallelPredictor(ddp)
