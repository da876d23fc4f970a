"""The collectives jasper needs, each a thin layer over ``torch.distributed``; all are identities
in a one-process job, so callers never branch on the world size."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import torch
import torch.distributed as dist

from jasper_core.distributed.sharding import shard_sizes
from jasper_core.distributed.world import World, current, in_group
from jasper_core.errors import JasperError

T = TypeVar("T")
# torch 2.13 renamed the one-tensor collectives; older releases have only the former names
_all_gather_single = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
_reduce_scatter_single = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor


def gather_shards(local: torch.Tensor, n: int, world: World | None = None) -> torch.Tensor:
    """Every rank's shard of ``n`` rows (see :func:`~.sharding.shard_bounds`), concatenated in rank order.

    Shards are padded to the largest for the transfer and trimmed after it, so no row is duplicated.
    No gradient flows back.

    Args:
        local: ``[n_rank, ...]`` this rank's shard.
        n: rows over all ranks.

    Returns:
        ``[n, ...]`` on every rank.
    """
    world = world or current()
    if not world.distributed or n == 0:
        return local
    sizes = shard_sizes(n, world.size)
    longest = max(sizes)
    padded = local.new_zeros((longest, *local.shape[1:]))
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(world.size)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:size] for part, size in zip(parts, sizes)])


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sums, over ranks, the gradient each rank's loss sends to this rank's rows."""

    @staticmethod
    def forward(ctx: Any, local: torch.Tensor) -> torch.Tensor:
        # plain torch.distributed calls, no World: dynamo traces them into the compiled step's graph
        ctx.rank, ctx.rows, ctx.nccl = dist.get_rank(), local.shape[0], dist.get_backend() == dist.Backend.NCCL
        out = local.new_empty((dist.get_world_size() * local.shape[0], *local.shape[1:]))
        _all_gather_single(out, local.contiguous())
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        if ctx.nccl:
            out = grad.new_empty((ctx.rows, *grad.shape[1:]))
            _reduce_scatter_single(out, grad)
            return out
        dist.all_reduce(grad)  # gloo has no reduce-scatter: sum everything, keep this rank's rows
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def gather_rows_with_grad(local: torch.Tensor) -> torch.Tensor:
    """``[b, ...]`` rows of every rank → ``[W·b, ...]`` (this rank's rows at ``rank·b``), differentiable.

    Every rank must pass the same shape. The backward pass gives this rank's rows the sum of the
    gradients that every rank's loss sends them; with DDP averaging the parameter gradients over
    ranks, the result equals the gradient of the mean loss over the global batch.
    """
    if not in_group():  # not current(): no World built inside a compiled step
        return local
    return _GatherWithGrad.apply(local)


def from_main(fn: Callable[[], T], world: World | None = None) -> T:
    """Run ``fn`` on rank 0 only and give its result (or its error) to every rank.

    For decisions that must not differ between ranks (the run directory, whether to resume,
    what a checkpoint holds). ``fn``'s result must be picklable.

    Raises:
        JasperError: ``fn`` raised on rank 0 (the same type and message on every rank).
    """
    world = world or current()
    if not world.distributed:
        return fn()
    box: list[Any] = [None]
    error: BaseException | None = None
    if world.is_main:
        try:
            box = [("ok", fn())]
        except BaseException as exc:  # noqa: BLE001 - told to the other ranks, then raised here
            error = exc
            kind = type(exc) if isinstance(exc, JasperError) and type(exc).__init__ is JasperError.__init__ else JasperError
            box = [("error", kind, str(exc))]
    dist.broadcast_object_list(box, src=0)
    if error is not None:
        raise error
    status, *payload = box[0]
    if status == "error":
        kind, message = payload
        raise kind(message)
    return payload[0]


def broadcast_module(module: torch.nn.Module, world: World | None = None) -> None:
    """Copy rank 0's parameters and buffers into ``module`` on every rank (in place)."""
    world = world or current()
    if not world.distributed:
        return
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=0)


def broadcast_from_main(tensor: torch.Tensor) -> torch.Tensor:
    """Rank 0's ``tensor`` on every rank (written into ``tensor``, which is returned); every rank passes
    a tensor of the same shape and dtype. The tensor itself in a one-process job."""
    if current().distributed:
        dist.broadcast(tensor, src=0)
    return tensor


def all_ranks_true(flags: torch.Tensor) -> torch.Tensor:
    """``[n]`` bool flags → true where they hold on every rank (a MIN all-reduce). Traceable: the
    compiled non-finite check calls it (no :class:`World` built, which would break the graph)."""
    if not in_group() or dist.get_world_size() == 1:
        return flags
    as_int = flags.to(torch.int32)
    dist.all_reduce(as_int, op=dist.ReduceOp.MIN)
    return as_int.bool()


def mean_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """``[n]`` float values → their mean over ranks, on every rank."""
    world = current()
    if not world.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values / world.size
