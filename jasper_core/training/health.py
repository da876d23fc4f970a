"""Representation-health figures that flag collapse of the predictions."""

from __future__ import annotations

import math

import torch


def prediction_health(pred: torch.Tensor) -> dict[str, float]:
    """Figures of a batch of predictions ``[N, D]`` (N ≥ 2).

    Returns:
        ``std``: mean per-dimension std of the L2-normalised predictions (≈ 1/sqrt(D) when spread,
        → 0 when collapsed); ``std_ratio``: that times sqrt(D); ``effective_rank``: exp of the
        entropy of the normalised singular values (Roy & Vetterli, 2007); ``mean_cosine``: mean
        pairwise cosine; ``collapse``: 1.0 when the figures indicate collapse.
    """
    x = pred.float()
    n, d = x.shape
    if n < 2:
        return {}
    if not bool(torch.isfinite(x).all()):  # a diverged model: say so instead of failing in the SVD
        return {"nonfinite": 1.0, "collapse": 1.0}
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)
    std = float(x.std(dim=0).mean())
    s = torch.linalg.svdvals(x - x.mean(dim=0))
    p = s / s.sum().clamp_min(1e-12)
    erank = float(torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum()))
    gram = x @ x.T
    mean_cos = float((gram.sum() - gram.diagonal().sum()) / (n * (n - 1)))
    ratio = std * math.sqrt(d)
    collapse = ratio < 0.2 or mean_cos > 0.95 or erank < 2.0
    return {"std": std, "std_ratio": ratio, "effective_rank": erank, "mean_cosine": mean_cos, "collapse": float(collapse)}
