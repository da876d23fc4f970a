"""Full-corpus retrieval metrics: Recall@k, MRR, nDCG@10, per steering variant, with baselines.

Ranks are pessimistic on ties (a source tied with the true one counts as ranked above it), so a
collapsed model that scores everything equally ranks last, not first.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import attrs
import torch

from jasper_core.evaluation.context import EvalContext
from jasper_plugins.nn import l2_normalize

NDCG_K = 10


def true_ranks(queries: torch.Tensor, corpus: torch.Tensor, true_index: torch.Tensor, *, batch_size: int = 1024,
               allowed: Callable[[slice], torch.Tensor] | None = None) -> torch.Tensor:
    """Rank (1 = best) of each query's true corpus row by cosine similarity.

    Args:
        queries: ``[N, D]``. corpus: ``[S, D]``. true_index: ``[N]`` long rows of ``corpus``.
        allowed: optional ``slice -> [b, S]`` bool mask of candidates per query (the true row is
            always a candidate).

    Returns:
        ``[N]`` long ranks.
    """
    q = l2_normalize(queries.float())
    c = l2_normalize(corpus.float())
    out = []
    for start in range(0, q.shape[0], batch_size):
        sl = slice(start, start + batch_size)
        scores = q[sl] @ c.T  # [b, S]
        true_idx = true_index[sl]
        true_score = scores.gather(1, true_idx.unsqueeze(1))  # [b, 1]
        beats = scores >= true_score
        if allowed is not None:
            beats &= allowed(sl)
        out.append(beats.sum(dim=1).clamp_min(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def summarize(ranks: torch.Tensor, ks: tuple[int, ...]) -> dict[str, float]:
    """``[N]`` ranks → ``recall@k`` for each k, ``mrr``, ``ndcg@10`` (one relevant source per query)."""
    r = ranks.double()
    out = {f"recall@{k}": float((r <= k).double().mean()) for k in ks}
    out["mrr"] = float((1.0 / r).mean())
    gains = torch.where(r <= NDCG_K, 1.0 / torch.log2(r + 1.0), torch.zeros_like(r))
    out["ndcg@10"] = float(gains.mean())
    return {k: (v if math.isfinite(v) else 0.0) for k, v in out.items()}


@attrs.frozen(kw_only=True)
class RetrievalMetricConfig:
    pass


class RetrievalMetric:
    """Model retrieval per steering variant next to ``question_cosine`` and ``cluster_filtered``."""

    def __init__(self, config: RetrievalMetricConfig | None = None) -> None:
        self.config = config

    def __call__(self, ctx: EvalContext) -> dict[str, Any]:
        ds = ctx.dataset
        pairs = ctx.pairs
        true_src = ds.pair_source[pairs]  # [N]
        clusters = ds.pair_cluster[pairs]  # [N]
        questions = ds.questions[ds.pair_question[pairs]]  # [N, D]
        corpus_target = ctx.encode(ds.sources)  # [S, D]
        same_cluster = lambda sl: ds.source_cluster.unsqueeze(0) == clusters[sl].unsqueeze(1)  # noqa: E731
        groups = {"all": None}
        if ctx.per_cluster:
            groups.update({ds.cluster_names[c]: clusters == c for c in range(ds.num_clusters)})

        def report(ranks: torch.Tensor) -> dict[str, Any]:
            out = summarize(ranks, ctx.ks)
            if ctx.per_cluster:
                out["per_cluster"] = {name: summarize(ranks[m], ctx.ks) for name, m in groups.items() if m is not None and m.any()}
            return out

        from jasper_core.data import variant_code

        model = {}
        for variant in ctx.variants:
            codes = torch.full_like(pairs, variant_code(variant))
            preds = torch.cat([
                ctx.predict(questions[i:i + ctx.batch_size], ds.steering(pairs[i:i + ctx.batch_size], codes[i:i + ctx.batch_size]))
                for i in range(0, pairs.shape[0], ctx.batch_size)
            ]) if pairs.numel() else questions
            model[variant] = report(true_ranks(preds, corpus_target, true_src, batch_size=ctx.batch_size))
        baselines = {
            "question_cosine": report(true_ranks(questions, ds.sources, true_src, batch_size=ctx.batch_size)),
            "cluster_filtered": report(true_ranks(questions, ds.sources, true_src, batch_size=ctx.batch_size, allowed=same_cluster)),
        }
        return {"split": ctx.split, "num_queries": int(pairs.shape[0]), "corpus_size": int(ds.sources.shape[0]),
                "model": model, "baselines": baselines}
