"""Full-corpus retrieval metrics: Recall@k, MRR, nDCG@10, per steering variant, with baselines.

Ranks are pessimistic on ties (a source tied with the true one counts as ranked above it), so a
collapsed model that scores everything equally ranks last, not first.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import attrs
import torch

from jasper_core import ATYPICALITY, ROUTING_WEIGHTS, EvalContext, EvalResults, variant_code
from jasper_core.validators import at_least
from jasper_plugins.metrics.routing import routed_ranks, routing_figures, search_timing
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
    samples: int = attrs.field(default=5, validator=at_least(0))


class RetrievalMetric:
    """Model retrieval per steering variant next to ``question_cosine`` and ``cluster_filtered``."""

    def __init__(self, config: RetrievalMetricConfig | None = None) -> None:
        self.config = config or RetrievalMetricConfig()

    @staticmethod
    def _explain_all(ctx: EvalContext, questions: torch.Tensor, steering: torch.Tensor):
        """Predictions ``[N, D]`` and the concatenated explanation tensors of the whole split."""
        preds, extra = [], {}
        for i in range(0, questions.shape[0], ctx.batch_size):
            out = ctx.explain(questions[i:i + ctx.batch_size], steering[i:i + ctx.batch_size])
            preds.append(out.prediction.float())
            for key in (ROUTING_WEIGHTS, ATYPICALITY):
                if key in out.explanation:
                    extra.setdefault(key, []).append(out.explanation[key].float())
        return torch.cat(preds), {k: torch.cat(v) for k, v in extra.items()}

    def __call__(self, ctx: EvalContext) -> EvalResults:
        ds = ctx.dataset
        pairs = ctx.pairs
        true_src = ds.pair_source[pairs]  # [N]
        clusters = ds.pair_cluster[pairs]  # [N]
        questions = ds.questions[ds.pair_question[pairs]]  # [N, D]
        corpus_target = ctx.encode(ds.sources)  # [S, D]
        same_cluster = lambda sl: ds.source_cluster.unsqueeze(0) == clusters[sl].unsqueeze(1)  # noqa: E731
        groups = {ds.cluster_names[c]: clusters == c for c in range(ds.num_clusters)} if ctx.per_cluster else {}
        per_cluster: dict[str, dict[str, dict[str, float]]] = {}

        def report(row: str, ranks: torch.Tensor) -> dict[str, float]:
            if groups:
                per_cluster[row] = {name: summarize(ranks[m], ctx.ks) for name, m in groups.items() if m.any()}
            return summarize(ranks, ctx.ks)

        model, routing, routed, samples = {}, {}, {}, []
        timing: dict[str, float] = {}
        for variant in ctx.variants:
            codes = torch.full_like(pairs, variant_code(variant))
            preds, extra = self._explain_all(ctx, questions, ds.steering(pairs, codes))
            ranks = true_ranks(preds, corpus_target, true_src, batch_size=ctx.batch_size)
            model[variant] = report(f"model/{variant}", ranks)
            if ROUTING_WEIGHTS in extra:
                weights = extra[ROUTING_WEIGHTS]
                routing[variant] = routing_figures(weights, clusters, extra.get(ATYPICALITY), ds.cluster_names)
                routed[variant] = {
                    f"top{m}": summarize(routed_ranks(preds, corpus_target, true_src, ds.source_cluster,
                                                      weights.topk(min(m, weights.shape[1]), dim=1).indices,
                                                      batch_size=ctx.batch_size), ctx.ks)
                    for m in ctx.routed_top_m
                }
                if not timing:
                    timing = search_timing(preds, corpus_target, ds.source_cluster, weights.argmax(dim=1))
            if variant == ctx.variants[0]:
                samples = self._samples(ctx, pairs, ranks, extra)
        baselines = {
            "question_cosine": report("baselines/question_cosine",
                                      true_ranks(questions, ds.sources, true_src, batch_size=ctx.batch_size)),
            "cluster_filtered": report("baselines/cluster_filtered",
                                       true_ranks(questions, ds.sources, true_src, batch_size=ctx.batch_size, allowed=same_cluster)),
        }
        return EvalResults(split=ctx.split, num_queries=int(pairs.shape[0]), corpus_size=int(ds.sources.shape[0]),
                           model=model, baselines=baselines, routed=routed, routing=routing, per_cluster=per_cluster,
                           search_timing=timing, samples=samples)

    def _samples(self, ctx: EvalContext, pairs: torch.Tensor, ranks: torch.Tensor, extra: dict) -> list[dict[str, Any]]:
        """A few pairs of the split explained: texts, true and routed cluster, atypicality, rank."""
        ds = ctx.dataset
        texts = ds.texts
        out = []
        for i in range(min(self.config.samples, int(pairs.shape[0]))):
            p = int(pairs[i])
            item: dict[str, Any] = {"pair": p, "variant": ctx.variants[0], "true_cluster": ds.cluster_names[int(ds.pair_cluster[p])],
                                    "rank_of_source": int(ranks[i])}
            if texts.get("questions"):
                item["question"] = texts["questions"][int(ds.pair_question[p])]
            if ROUTING_WEIGHTS in extra:
                w = extra[ROUTING_WEIGHTS][i]
                item["routed_cluster"] = ds.cluster_names[int(w.argmax())]
                item["confidence"] = float(w.max())
            if ATYPICALITY in extra:
                item["atypicality"] = float(extra[ATYPICALITY][i])
            out.append(item)
        return out
