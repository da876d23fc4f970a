"""The optional ``torch.compile`` path of the training step (``train.compile``).

What is compiled is :func:`jasper_core.training.step.forward_losses`: the dataset's gather of the
batch (on a GPU under ``default``: :class:`~jasper_core.training.step.Rows`), the target encoding
of the centroids, the source and its negatives, the model's forward and the losses, traced as one graph
(the contracts built in it are traceable: :mod:`jasper_core.contracts.traceable`); backward follows
through AOTAutograd. Under ``default`` on a GPU the tail after backward is compiled as well (two small graphs:
:func:`~jasper_core.training.step.decide_update`, the clipping and the non-finite check, and
:func:`~jasper_core.training.step.ema_update`); the fused optimiser stays eager (one multi-tensor
kernel), as does the whole tail on the CPU and under the other modes. ``reduce-overhead`` replays the forward and backward as CUDA graphs on a GPU.
A plugin that reads ``state.step`` or ``state.progress`` in its forward (a temperature or target
schedule) makes dynamo recompile as the value changes; past its recompile limit that frame runs
eagerly (correct, not faster). A compiled forward that fails where the eager one does not switches
the forward to eager with one warning; a compiled tail function that fails to compile switches that
function alone (one warning each: :func:`~jasper_core.training.step.compiled_or_eager`).

In a multi-process (``torchrun``) job only ``default`` is allowed: a 2-GPU job with
``reduce-overhead`` did not finish (timed out after 280 s where the one-GPU run takes about 70 s),
so the modes with CUDA graphs are refused there before anything is built.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, get_args, get_type_hints

import torch

from jasper_core.distributed.world import World
from jasper_core.errors import Problem, RecipeError
from jasper_core.recipe.schema import TrainSection

#: Every ``train.compile`` mode, as the recipe schema declares them (``"off"`` first).
COMPILE_MODES: tuple[str, ...] = get_args(get_type_hints(TrainSection)["compile"])

#: ``train.compile`` modes that replay CUDA graphs (refused in a multi-process job).
GRAPH_MODES = ("reduce-overhead", "max-autotune")


def check_compile_mode(mode: str, world: World) -> None:
    """Refuse a CUDA-graph ``train.compile`` mode in a multi-process job (one line, at ``train.compile``)."""
    if world.distributed and mode in GRAPH_MODES:
        raise RecipeError("recipe", [Problem("train.compile", f'"{mode}" (CUDA graphs) is not supported in a multi-process '
                                                              'job; use "default" (with train.cuda_graph = true for CUDA graphs) or "off" under torchrun')])


def compile_step(fn: Callable, mode: str, tuning: bool = False, split_means: bool = False) -> Callable:
    """``fn`` compiled with ``torch.compile(mode=mode)``. Integers such as ``state.step`` become
    symbolic after the first recompile; where a plugin turns them into Python floats (the subspace
    router's temperature schedule) dynamo may fail (on an H200 it failed an internal guard check):
    :func:`jasper_core.training.step.compute_losses` then runs the rest of the run eagerly.

    With ``tuning`` (``train.compile_tuning``) inductor also tunes each generated GPU kernel's block
    sizes and warps by timing them (its coordinate-descent tuning): minutes more compilation, for a
    faster step where the default sizes fit the shapes badly (on the CPU nothing is tuned).

    With ``split_means`` (the trainer's choice on a GPU) ``fn`` is compiled with the batch-mean split of
    :mod:`~jasper_core.training.reductions`: a reduction of the whole batch to one value (the loss
    means) runs over blocks of rows, so no timing of block sizes can leave one thread block looping
    over the batch (it did, on some machines: 0.7 ms of a 1.7 ms step at batch 4096, docs/performance.md).
    """
    from torch._inductor import list_mode_options  # torch.compile takes a mode or options, not both

    compiled = (torch.compile(fn, options={**list_mode_options(mode), "coordinate_descent_tuning": True}) if tuning
                else torch.compile(fn, mode=mode))
    if not split_means:
        return compiled
    from jasper_core.training.reductions import split_batch_means  # imports inductor: only when compiling

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with split_batch_means():  # read while the forward compiles (reductions.py)
            return compiled(*args, **kwargs)
    return run
