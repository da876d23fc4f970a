"""Which rows each rank takes: one rule for training batches and evaluation shards.

Rows ``[0, n)`` are cut into ``world_size`` contiguous shards whose sizes differ by at most one
(the first ``n mod world_size`` shards hold one more row). Every row is in exactly one shard: no
row is padded in or repeated, so whatever is gathered back equals the one-process result.
"""

from __future__ import annotations


def shard_bounds(n: int, world_size: int, rank: int) -> tuple[int, int]:
    """``(start, stop)`` of ``rank``'s contiguous shard of ``n`` rows.

    Raises:
        ValueError: ``rank`` is not in ``[0, world_size)``.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def shard_sizes(n: int, world_size: int) -> list[int]:
    """The size of every rank's shard of ``n`` rows (sums to ``n``)."""
    return [stop - start for start, stop in (shard_bounds(n, world_size, r) for r in range(world_size))]


def batch_rows(start: int, stop: int, world_size: int, rank: int) -> tuple[int, int]:
    """``rank``'s rows of the global batch ``[start, stop)`` of an epoch's order, all ranks equal in size.

    Each rank takes ``(stop − start) // world_size`` consecutive rows, so every rank's batch has the
    same shape (what DDP and a gathering loss need); the ``(stop − start) mod world_size`` rows left
    over (only in an epoch's last, partial batch) are not trained on in that epoch.
    """
    per_rank = (stop - start) // world_size
    first = start + rank * per_rank
    return first, first + per_rank
