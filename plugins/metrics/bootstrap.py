"""Paired bootstrap confidence intervals over queries (Efron & Tibshirani, 1993).

Two retrieval systems are scored on the same queries; resampling the queries (with replacement)
and recomputing the mean difference gives the spread of the difference a new sample of queries
would show. A difference whose 95% interval contains 0 is not significant.
"""

from __future__ import annotations

import torch

from jasper_plugins.metrics.ranks import per_query


def paired_bootstrap(a: torch.Tensor, b: torch.Tensor, *, samples: int = 1000, seed: int = 0,
                     level: float = 0.95) -> dict[str, float]:
    """Mean of ``a − b`` (``[N]`` per-query scores of two systems) with its bootstrap interval.

    Returns:
        ``{"diff": mean difference, "low": lower bound, "high": upper bound}`` (bounds equal the
        difference when ``samples`` is 0 or there is one query).
    """
    d = (a.double() - b.double()).cpu()
    n = int(d.shape[0])
    mean = float(d.mean()) if n else 0.0
    if samples <= 0 or n < 2:
        return {"diff": mean, "low": mean, "high": mean}
    g = torch.Generator().manual_seed(seed)
    means = d[torch.randint(0, n, (samples, n), generator=g)].mean(dim=1)
    tail = (1.0 - level) / 2
    low, high = torch.quantile(means, torch.tensor([tail, 1.0 - tail], dtype=means.dtype)).tolist()
    return {"diff": mean, "low": low, "high": high}


def differences(model_ranks: torch.Tensor, baseline_ranks: dict[str, torch.Tensor], metrics: tuple[str, ...], *,
                samples: int) -> dict[str, dict[str, dict[str, float]]]:
    """``{baseline: {metric: paired_bootstrap(model, baseline)}}`` for per-query ``metrics``."""
    return {name: {m: paired_bootstrap(per_query(model_ranks, m), per_query(ranks, m), samples=samples) for m in metrics}
            for name, ranks in baseline_ranks.items()}
