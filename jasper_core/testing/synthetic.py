"""A synthetic JASPER dataset with known structure (for tests and plugin authors).

Clusters are random unit directions; sources sit near their cluster's centroid, and each
question is its source plus noise, so question→source cosine retrieval is good but imperfect
and the true cluster is recoverable. ``atypical_fraction`` of the pairs are placed off their
centroid (their ``pair_relevance`` is 0.5 to mark them). ``question_shift`` moves every question of
a cluster by that cluster's own random direction (questions worded unlike their sources), so
nearest-centroid routing of a question is often wrong and a router must learn the topics.
"""

from __future__ import annotations

from typing import Any

import torch

from jasper_core.contracts.steering import SteeringInputs, keyword_mean, stored_steering


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-8)


def synthetic_tensors(*, num_clusters: int = 4, per_cluster: int = 30, dim: int = 16, negatives: int = 6,
                      question_noise: float = 0.6, cluster_spread: float = 0.5, atypical_fraction: float = 0.0,
                      question_shift: float = 0.0, seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Return ``(tensors, meta)`` in the JASPER layout (float32, one pair per question/source)."""
    g = torch.Generator().manual_seed(seed)
    n = num_clusters * per_cluster
    centroids = _unit(torch.randn(num_clusters, dim, generator=g))
    cluster = torch.arange(num_clusters).repeat_interleave(per_cluster)
    spread = torch.full((n, 1), cluster_spread)
    atypical = torch.rand(n, generator=g) < atypical_fraction
    spread[atypical] = 2.5 * cluster_spread
    sources = _unit(centroids[cluster] + spread * _unit(torch.randn(n, dim, generator=g)))
    questions = _unit(sources + question_noise * _unit(torch.randn(n, dim, generator=g)))
    if question_shift > 0:  # drawn after everything else, so a zero shift leaves the data as before
        shift = _unit(torch.randn(num_clusters, dim, generator=torch.Generator().manual_seed(seed + 1)))
        questions = _unit(questions + question_shift * shift[cluster])
    keywords = _unit(sources.repeat(2, 1) + 0.3 * torch.randn(2 * n, dim, generator=g))
    kw_ids = torch.stack([torch.arange(n), torch.arange(n) + n], dim=1)
    hard_k, other_k = negatives // 2, negatives - negatives // 2
    neg = torch.empty(n, negatives, dtype=torch.long)
    for c in range(num_clusters):  # per cluster, so memory stays O(n * per_cluster)
        lo, hi = c * per_cluster, (c + 1) * per_cluster
        sims = questions[lo:hi] @ sources[lo:hi].T
        sims.fill_diagonal_(-2.0)
        neg[lo:hi, :hard_k] = lo + sims.topk(min(hard_k, per_cluster - 1), dim=1).indices
        other = torch.randint(0, n - per_cluster, (hi - lo, other_k), generator=g)
        neg[lo:hi, hard_k:] = other + per_cluster * (other >= lo)  # skip this cluster's block
    tiers = torch.cat([torch.zeros(n, hard_k, dtype=torch.long), torch.full((n, other_k), 2, dtype=torch.long)], dim=1)
    cp = centroids[cluster]
    perm = torch.randperm(n, generator=g)
    n_val = n_test = max(n // 10, 2)
    tensors = {
        "question_embs": questions, "source_embs": sources, "keyword_embs": keywords, "centroid_embs": centroids,
        "pair_index": torch.stack([torch.arange(n), torch.arange(n)], dim=1), "pair_cluster_id": cluster,
        "pair_relevance": torch.where(atypical, 0.5, 1.0), "pair_keyword_ids": kw_ids, "hard_negatives": neg,
        "negative_tiers": tiers,
        **stored_steering(SteeringInputs(question=questions, centroid=cp, keywords=keyword_mean(keywords, kw_ids))),
        "centroid_distances": (questions - cp).norm(dim=1), "val_idx": perm[:n_val].sort().values,
        "test_idx": perm[n_val:n_val + n_test].sort().values, "train_idx": perm[n_val + n_test:].sort().values,
    }
    meta = {"embedding_dim": dim, "num_clusters": num_clusters, "num_pairs": n,
            "cluster_names": [f"topic-{c}" for c in range(num_clusters)], "model_name": "synthetic"}
    return tensors, meta
