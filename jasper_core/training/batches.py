"""The vectorised epoch batcher shared by every dataset plugin: no per-sample Python."""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.profiler import record_function

from jasper_core.contracts import STEERING_VARIANTS, Batch, Dataset, variant_code


def num_batches(n: int, batch_size: int, drop_last: bool) -> int:
    """Batches in one pass over ``n`` pairs; with ``drop_last`` the incomplete last batch is dropped,
    unless it is the only one."""
    if n == 0:
        return 0
    return n // batch_size if drop_last and n >= batch_size else -(-n // batch_size)


def epoch_batches(
    dataset: Dataset,
    pairs: torch.Tensor,
    batch_size: int,
    *,
    generator: torch.Generator,
    variant_probs: Sequence[float] | torch.Tensor | None = None,
    variant: str | None = None,
    drop_last: bool = True,
    shuffle: bool = True,
    balance_by: torch.Tensor | None = None,
) -> Iterator[Batch]:
    """Yield the batches of one pass over ``pairs``.

    A seeded permutation orders the pairs; steering variants are drawn for the whole epoch at
    once from ``variant_probs`` (one per variant, in :data:`STEERING_VARIANTS` order; default:
    always ``zero``) unless ``variant`` forces one.

    Args:
        pairs: ``[P]`` long pair indices (on the dataset's device).
        generator: a CPU generator; its state is the epoch's randomness (saved in checkpoints).
        balance_by: ``[P_split]`` long group ids (e.g. clusters): draw the epoch's pairs with
            replacement so every group is equally likely (class-balanced batches).
    """
    n = int(pairs.shape[0])
    if n == 0:
        return
    if balance_by is not None:
        groups = balance_by.cpu()
        counts = torch.bincount(groups).float()
        weights = 1.0 / counts[groups]
        order = torch.multinomial(weights, n, replacement=True, generator=generator)
    else:
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    if variant is not None:
        codes = torch.full((n,), variant_code(variant), dtype=torch.long)
    else:
        if variant_probs is None:
            variant_probs = [1.0] + [0.0] * (len(STEERING_VARIANTS) - 1)
        probs = torch.as_tensor(variant_probs, dtype=torch.float)
        codes = torch.multinomial(probs, n, replacement=True, generator=generator)
    order = order.to(pairs.device)
    codes = codes.to(pairs.device)
    for i in range(num_batches(n, batch_size, drop_last)):
        start = i * batch_size
        sel = order[start : start + batch_size]
        with record_function("jasper.data"):
            batch = dataset.gather(pairs[sel], codes[start : start + batch_size])
        yield batch
