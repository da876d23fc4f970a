"""The vectorised epoch batcher shared by every dataset plugin: no per-sample Python.

In a job of ``W`` ranks every rank has the same epoch order (drawn from the shared seed; on GPUs,
rank 0's draw, broadcast) and takes its slice of each global batch of ``W × batch_size`` pairs
(:func:`jasper_core.distributed.batch_rows`): the ranks' batches of an epoch together are the
one-process epoch's batches at batch size ``W × batch_size``.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import torch
from torch.profiler import record_function

from jasper_core.contracts import STEERING_VARIANTS, Batch, Dataset, variant_code
from jasper_core.distributed.sharding import batch_rows


def num_batches(n: int, batch_size: int, drop_last: bool, world_size: int = 1) -> int:
    """Steps in one pass over ``n`` pairs with ``batch_size`` pairs per rank and ``world_size`` ranks.

    With ``drop_last`` the incomplete last global batch is dropped, unless it is the only one; a last
    batch with fewer pairs than ranks is always dropped (a rank would get none).
    """
    size = batch_size * world_size
    full, rest = divmod(n, size)
    if drop_last and full:
        return full
    return full + (1 if rest >= world_size else 0)


def epoch_rows(
    pairs: torch.Tensor,
    batch_size: int,
    *,
    generator: torch.Generator,
    variant_probs: Sequence[float] | torch.Tensor | None = None,
    variant: str | None = None,
    drop_last: bool = True,
    shuffle: bool = True,
    balance_by: torch.Tensor | None = None,
    world_size: int = 1,
    rank: int = 0,
    agree: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(pair indices [B], steering variant codes [B])`` for the batches of one pass over ``pairs``
    (on ``pairs``' device; :func:`epoch_batches` gathers them into batches).

    A seeded permutation orders the pairs (drawn on the GPU when ``pairs`` are there, in a job of
    several ranks with ``agree``); steering variants are drawn for the whole epoch at once from
    ``variant_probs`` (one per variant, in :data:`STEERING_VARIANTS` order; default: always
    ``zero``) unless ``variant`` forces one.

    Args:
        pairs: ``[P]`` long pair indices (on the dataset's device).
        generator: a CPU generator; its state is the epoch's randomness (saved in checkpoints).
        balance_by: ``[P_split]`` long group ids (e.g. clusters): draw the epoch's pairs with
            replacement so every group is equally likely (class-balanced batches).
        world_size / rank: this rank's share of each global batch of ``world_size × batch_size``
            pairs (the order and the steering variants are drawn identically on every rank).
        agree: in a job of several ranks, gives every rank rank 0's tensor (a broadcast:
            :func:`jasper_core.distributed.broadcast_from_main`); with it, ranks on GPUs draw there
            and take rank 0's draw. Without it they draw on the host, where the same seed gives the
            same order on every rank.
    """
    n = int(pairs.shape[0])
    if n == 0:
        return
    draw, on = generator, torch.device("cpu")
    on_gpu = pairs.is_cuda and (world_size == 1 or agree is not None)
    if on_gpu:
        # drawn on the GPU from a seed the run's generator gives (the checkpointed state moves on alike): a
        # host draw of a large epoch took tens of milliseconds, the GPU idle meanwhile. Ranks of a job take
        # rank 0's draw (``agree``): GPUs of other models need not draw the same numbers from one seed.
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        draw, on = torch.Generator(pairs.device).manual_seed(seed), pairs.device
    if balance_by is not None:
        groups = balance_by.to(on)
        counts = torch.bincount(groups).float()
        weights = 1.0 / counts[groups]
        order = torch.multinomial(weights, n, replacement=True, generator=draw)
    else:
        order = torch.randperm(n, generator=draw, device=on) if shuffle else torch.arange(n, device=on)
    if variant is not None:
        codes = torch.full((n,), variant_code(variant), dtype=torch.long, device=on)
    else:
        if variant_probs is None:
            variant_probs = [1.0] + [0.0] * (len(STEERING_VARIANTS) - 1)
        probs = torch.as_tensor(variant_probs, dtype=torch.float, device=on)
        codes = torch.multinomial(probs, n, replacement=True, generator=draw)
    order = order.to(pairs.device)
    codes = codes.to(pairs.device)
    if on_gpu and world_size > 1:
        order, codes = agree(order), agree(codes)
    size = batch_size * world_size
    rows = pairs.index_select(0, order)  # the epoch's pair indices in one gather: each batch is a view of them
    for i in range(num_batches(n, batch_size, drop_last, world_size)):
        start, stop = batch_rows(i * size, min((i + 1) * size, n), world_size, rank)
        yield rows[start:stop], codes[start:stop]


def variant_mix(codes: Sequence[torch.Tensor]) -> torch.Tensor:
    """The share of each steering variant (:data:`STEERING_VARIANTS` order) among ``codes`` (the
    batches' ``[B]`` code tensors): ``[V]`` float on the host, zeros when there are none. Counted once
    (one host read), not batch by batch."""
    if not codes:
        return torch.zeros(len(STEERING_VARIANTS))
    every = torch.cat(list(codes))
    counts = torch.bincount(every, minlength=len(STEERING_VARIANTS))  # reads its max on the host: the epoch is done
    return (counts.double() / max(every.numel(), 1)).float().cpu()


def epoch_batches(dataset: Dataset, pairs: torch.Tensor, batch_size: int, **options) -> Iterator[Batch]:
    """The batches of one pass over ``pairs``: :func:`epoch_rows` (same options) gathered by ``dataset``."""
    for rows, codes in epoch_rows(pairs, batch_size, **options):
        with record_function("jasper.data"):
            batch = dataset.gather(rows, codes)
        yield batch
