"""Ranks of the true source, and the per-query and summary figures computed from them."""

from __future__ import annotations

import math
from typing import Callable

import torch

from jasper_core.distributed import current, gather_shards, shard_bounds
from jasper_plugins.nn import l2_normalize

NDCG_K = 10
MRR_K = 10


def true_ranks(queries: torch.Tensor, corpus: torch.Tensor, true_index: torch.Tensor, *, batch_size: int = 1024,
               allowed: Callable[[slice], torch.Tensor] | None = None,
               bias: Callable[[slice], torch.Tensor] | None = None) -> torch.Tensor:
    """Rank (1 = best) of each query's true corpus row by cosine similarity.

    Ties are pessimistic (a source scored equal to the true one ranks above it), and a query
    whose scores are not finite (a model emitting NaN) ranks last, ``S + 1``: a broken model
    can never look good.

    Args:
        queries: ``[N, D]``. corpus: ``[S, D]``. true_index: ``[N]`` long rows of ``corpus``.
        allowed: optional ``slice -> [b, S]`` bool mask of candidates per query (the true row is
            always a candidate).
        bias: optional ``slice -> [b, S]`` added to the cosine scores (e.g. routing log-probabilities).

    In a multi-process evaluation each rank ranks its shard of the queries and every rank gets all
    ``N`` ranks back (``jasper_core.distributed``; docs/distributed.md).

    Returns:
        ``[N]`` long ranks.
    """
    q = l2_normalize(queries.float())
    c = l2_normalize(corpus.float())
    world = current()
    first, stop = shard_bounds(q.shape[0], world.size, world.rank)
    out = []
    for start in range(first, stop, batch_size):
        sl = slice(start, min(start + batch_size, stop))
        scores = q[sl] @ c.T  # [b, S]
        if bias is not None:
            scores = scores + bias(sl)
        true_score = scores.gather(1, true_index[sl].unsqueeze(1))  # [b, 1]
        beats = scores >= true_score
        if allowed is not None:
            beats &= allowed(sl)
        rank = beats.sum(dim=1).clamp_min(1)
        broken = ~torch.isfinite(scores).all(dim=1)
        out.append(torch.where(broken, torch.full_like(rank, c.shape[0] + 1), rank))
    ranks = torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=q.device)
    return gather_shards(ranks, q.shape[0], world)


def per_query(ranks: torch.Tensor, metric: str) -> torch.Tensor:
    """``[N]`` per-query value of ``metric`` (``mrr``, ``mrr@10``, ``recall@k``, ``ndcg@10``) from ranks."""
    r = ranks.double()
    if metric == "mrr":
        return 1.0 / r
    if metric == f"mrr@{MRR_K}":
        return torch.where(r <= MRR_K, 1.0 / r, torch.zeros_like(r))
    if metric == f"ndcg@{NDCG_K}":
        return torch.where(r <= NDCG_K, 1.0 / torch.log2(r + 1.0), torch.zeros_like(r))
    if metric.startswith("recall@"):
        return (r <= int(metric.split("@")[1])).double()
    raise ValueError(f"unknown metric {metric!r}")


def summarize(ranks: torch.Tensor, ks: tuple[int, ...]) -> dict[str, float]:
    """``[N]`` ranks → ``recall@k`` for each k, ``mrr``, ``mrr@10``, ``ndcg@10`` (one relevant source per query)."""
    names = [f"recall@{k}" for k in ks] + ["mrr", f"mrr@{MRR_K}", f"ndcg@{NDCG_K}"]
    out = {m: float(per_query(ranks, m).mean()) for m in names}
    return {k: (v if math.isfinite(v) else 0.0) for k, v in out.items()}
