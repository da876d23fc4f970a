"""Full-corpus retrieval metrics: Recall@k, MRR, MRR@10, nDCG@10, per steering variant, with baselines.

Ranks are pessimistic on ties (a source tied with the true one counts as ranked above it), so a
collapsed model that scores everything equally ranks last, not first; a non-finite prediction
ranks last too (see :mod:`.ranks`).
"""

from __future__ import annotations

from typing import Any

import attrs
import torch

from jasper_core import ATYPICALITY, ROUTING_WEIGHTS, EvalContext, EvalResults, variant_code
from jasper_core.validators import at_least, non_negative
from jasper_plugins.metrics.bootstrap import differences
from jasper_plugins.metrics.ranks import summarize, true_ranks
from jasper_plugins.metrics.routing import routed_ranks, routing_figures, search_timing, soft_routing_bias

#: Metrics whose paired difference to each baseline is reported with a confidence interval.
COMPARED = ("mrr", "recall@1")


@attrs.frozen(kw_only=True)
class RetrievalMetricConfig:
    samples: int = attrs.field(default=5, validator=at_least(0))
    bootstrap_samples: int = attrs.field(default=1000, validator=at_least(0))
    soft_routing_strength: float = attrs.field(default=0.05, validator=non_negative)


class RetrievalMetric:
    """Model retrieval per steering variant next to ``question_cosine`` and ``cluster_filtered``,
    with the paired difference to each baseline and its 95% bootstrap interval over queries."""

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
        sources = ds.sources  # [S, D] float32 (read once: an fp16 dataset upcasts the whole table on each read)
        corpus_target = ctx.encode(sources)  # [S, D]
        same_cluster = lambda sl: ds.source_cluster.unsqueeze(0) == clusters[sl].unsqueeze(1)  # noqa: E731
        groups = {ds.cluster_names[c]: clusters == c for c in range(ds.num_clusters)} if ctx.per_cluster else {}
        per_cluster: dict[str, dict[str, dict[str, float]]] = {}

        def report(row: str, ranks: torch.Tensor) -> dict[str, float]:
            if groups:
                per_cluster[row] = {name: summarize(ranks[m], ctx.ks) for name, m in groups.items() if m.any()}
            return summarize(ranks, ctx.ks)

        baseline_ranks = {
            "question_cosine": true_ranks(questions, sources, true_src, batch_size=ctx.batch_size),
            "cluster_filtered": true_ranks(questions, sources, true_src, batch_size=ctx.batch_size, allowed=same_cluster),
        }
        baselines = {name: report(f"baselines/{name}", ranks) for name, ranks in baseline_ranks.items()}
        model, routing, routed, diffs, samples = {}, {}, {}, {}, []
        timing: dict[str, float] = {}
        for variant in ctx.variants:
            codes = torch.full_like(pairs, variant_code(variant))
            preds, extra = self._explain_all(ctx, questions, ds.steering(pairs, codes))
            ranks = true_ranks(preds, corpus_target, true_src, batch_size=ctx.batch_size)
            model[variant] = report(f"model/{variant}", ranks)
            diffs[variant] = differences(ranks, baseline_ranks, COMPARED, samples=self.config.bootstrap_samples)
            # the prediction searched in its true cluster only (an oracle router): set against the
            # cluster_filtered baseline, it says whether the model ranks better than cosine inside a topic
            routed[variant] = {"true_cluster": summarize(true_ranks(preds, corpus_target, true_src, allowed=same_cluster,
                                                                    batch_size=ctx.batch_size), ctx.ks)}
            if ROUTING_WEIGHTS in extra:
                weights = extra[ROUTING_WEIGHTS]
                routing[variant] = routing_figures(weights, clusters, extra.get(ATYPICALITY), ds.cluster_names)
                routed[variant].update({
                    f"top{m}": summarize(routed_ranks(preds, corpus_target, true_src, ds.source_cluster,
                                                      weights.topk(min(m, weights.shape[1]), dim=1).indices,
                                                      batch_size=ctx.batch_size), ctx.ks)
                    for m in ctx.routed_top_m
                })
                if self.config.soft_routing_strength > 0:
                    bias = soft_routing_bias(weights, ds.source_cluster, self.config.soft_routing_strength)
                    routed[variant]["soft"] = summarize(true_ranks(preds, corpus_target, true_src, bias=bias,
                                                                   batch_size=ctx.batch_size), ctx.ks)
                if not timing:
                    timing = search_timing(preds, corpus_target, ds.source_cluster, weights.argmax(dim=1))
            if variant == ctx.variants[0]:
                samples = self._samples(ctx, pairs, ranks, extra)
        return EvalResults(split=ctx.split, num_queries=int(pairs.shape[0]), corpus_size=int(sources.shape[0]),
                           model=model, baselines=baselines, differences=diffs, routed=routed, routing=routing,
                           per_cluster=per_cluster, search_timing=timing, samples=samples)

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
