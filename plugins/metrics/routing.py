"""Routing figures and routed retrieval (search only the sources of the top-m routed clusters)."""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from jasper_plugins.losses.routing_entropy import entropy
from jasper_plugins.nn import l2_normalize


def routing_figures(weights: torch.Tensor, clusters: torch.Tensor, atypicality: torch.Tensor | None,
                    names: list[str]) -> dict[str, Any]:
    """``weights [N,C]``, true ``clusters [N]`` → soft/hard accuracy, entropy, load per cluster, mean atypicality."""
    hard = weights.argmax(dim=1)
    load = torch.bincount(hard, minlength=weights.shape[1]).float() / max(len(hard), 1)
    out = {
        "accuracy_hard": float((hard == clusters).float().mean()),
        "accuracy_soft": float(weights.gather(1, clusters.unsqueeze(1)).mean()),
        "entropy": float(entropy(weights).mean()),
        "max_entropy": math.log(weights.shape[1]),
        "load": {names[i]: float(v) for i, v in enumerate(load)},
    }
    if atypicality is not None:
        out["mean_atypicality"] = float(atypicality.mean())
    return out


def routed_ranks(queries: torch.Tensor, corpus: torch.Tensor, true_index: torch.Tensor, source_cluster: torch.Tensor,
                 routed: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
    """Rank of the true source when only sources of the ``routed [N, m]`` clusters are searched.

    A positive outside the routed clusters is lost: its rank is ``S + 1`` (counts as a miss).
    """
    q = l2_normalize(queries.float())
    c = l2_normalize(corpus.float())
    out = []
    for start in range(0, q.shape[0], batch_size):
        sl = slice(start, start + batch_size)
        allowed = (source_cluster.view(1, -1, 1) == routed[sl].unsqueeze(1)).any(-1)  # [b, S]
        scores = (q[sl] @ c.T).masked_fill(~allowed, -math.inf)
        true = scores.gather(1, true_index[sl].unsqueeze(1))
        rank = (scores >= true).sum(dim=1)
        lost = ~allowed.gather(1, true_index[sl].unsqueeze(1)).squeeze(1) | ~torch.isfinite(q[sl]).all(dim=1)
        out.append(torch.where(lost, torch.full_like(rank, c.shape[0] + 1), rank.clamp_min(1)))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def soft_routing_bias(weights: torch.Tensor, source_cluster: torch.Tensor, strength: float):
    """``slice -> [b, S]`` score bias ``strength · log w[cluster of each source]`` (sources of no
    cluster get none): soft re-weighting of a full search by the routing distribution ``weights [N, C]``."""
    log_w = torch.log(weights.float().clamp_min(1e-6))  # [N, C]
    known = (source_cluster >= 0).float()  # [S]

    def bias(sl: slice) -> torch.Tensor:
        return strength * log_w[sl][:, source_cluster.clamp_min(0)] * known

    return bias


def search_timing(queries: torch.Tensor, corpus: torch.Tensor, source_cluster: torch.Tensor, routed_top1: torch.Tensor,
                  k: int = 10, repeats: int = 3) -> dict[str, float]:
    """Milliseconds per 1,000 queries for a full top-k search vs. a search of the routed cluster only.

    The routed search groups queries by their routed cluster and scores each group against that
    cluster's sources (what a per-cluster index does).
    """
    q = l2_normalize(queries.float())
    c = l2_normalize(corpus.float())
    groups = [(cl, (routed_top1 == cl).nonzero().squeeze(1), (source_cluster == cl).nonzero().squeeze(1))
              for cl in torch.unique(routed_top1).tolist()]

    def full():
        (q @ c.T).topk(min(k, c.shape[0]), dim=1)

    def routed():
        for _, qi, si in groups:
            if len(si):
                (q[qi] @ c[si].T).topk(min(k, len(si)), dim=1)

    def timed(fn) -> float:
        fn()
        if q.is_cuda:
            torch.cuda.synchronize()
        best = math.inf
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            if q.is_cuda:
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        return best * 1000 * 1000 / max(q.shape[0], 1)

    return {"full_ms_per_1k_queries": timed(full), "routed_top1_ms_per_1k_queries": timed(routed)}
