"""Render :class:`EvalResults` as a table and verdict lines (console logger, ``jasper eval``, ``make demo``)."""

from __future__ import annotations

from rich.table import Table

from jasper_core.contracts import EvalResults
from jasper_core.contracts.steering import STEERING_VARIANTS, label

COLUMNS = ("recall@1", "recall@5", "recall@10", "mrr", "mrr@10", "ndcg@10")
ROUTED_LABELS = {"true_cluster": "in its true cluster (oracle)", "soft": "soft-routed"}
HEADERS = {"recall@1": "R@1", "recall@5": "R@5", "recall@10": "R@10", "mrr": "MRR", "mrr@10": "MRR@10", "ndcg@10": "nDCG@10"}


def _variant_label(variant: str) -> str:
    return label(variant) if variant in STEERING_VARIANTS else variant


def eval_table(results: EvalResults, title: str | None = None) -> Table:
    """One row per steering variant of the model, the routed searches, then the baselines."""
    title = title or f"retrieval on {results.split} ({results.num_queries} queries, corpus {results.corpus_size})"
    table = Table(title=title, title_justify="left")
    cols = [c for c in COLUMNS if any(c in m for m in results.model.values())] or list(COLUMNS)
    table.add_column("predictor", no_wrap=True)
    for c in cols:
        table.add_column(HEADERS.get(c, c), justify="right")
    rows = [(f"model, {_variant_label(v)} steering", m, None) for v, m in results.model.items()]
    for v, by_m in results.routed.items():
        rows += [(f"  {ROUTED_LABELS.get(m, 'routed ' + m)}, {_variant_label(v)} steering", metrics, "italic")
                 for m, metrics in by_m.items()]
    rows += [(f"baseline {b}", m, "dim") for b, m in results.baselines.items()]
    for name, metrics, style in rows:
        table.add_row(name, *[f"{metrics.get(c, float('nan')):.3f}" for c in cols], style=style)
    return table


def _compared(results: EvalResults, variant: str, baseline: str, metric: str, model_value: float) -> str | None:
    """``"beats question_cosine 0.681 (+0.022, 95% CI [+0.010, +0.034])"`` and the like, or None."""
    value = results.baseline(baseline, metric)
    if value is None:
        return None
    d = results.difference(variant, baseline, metric)
    if d is None:
        word = "beats" if model_value > value else "does not beat"
        return f"{word} {baseline} {value:.3f} ({model_value - value:+.3f}, no confidence interval)"
    if d["low"] > 0:
        word = "beats"
    elif d["high"] < 0:
        word = "is WORSE than"
    else:
        word = "is not significantly different from"
    return f"{word} {baseline} {value:.3f} ({d['diff']:+.3f}, 95% CI [{d['low']:+.3f}, {d['high']:+.3f}])"


def verdict(results: EvalResults, metric: str = "mrr", variant: str = "zero") -> str:
    """One line: does the model, with ``variant`` (the one chosen on validation, ``eval.best_variant``),
    beat plain cosine retrieval and the search restricted to the true cluster? A difference counts
    only when its 95% confidence interval (paired bootstrap over queries) excludes 0."""
    if variant not in results.model or metric not in results.model[variant]:
        return ""
    value = results.score(metric, variant)
    parts = [p for p in (_compared(results, variant, b, metric, value) for b in ("question_cosine", "cluster_filtered")) if p]
    if not parts:
        return ""
    return f"model {metric} {value:.3f} ({_variant_label(variant)} steering): " + "; ".join(parts)


def routing_summary(results: EvalResults) -> str:
    """One line per variant on routing quality and routed-search speed (empty for non-routing models)."""
    lines = []
    for variant, r in results.routing.items():
        lines.append(f"routing ({_variant_label(variant)} steering): hard accuracy {r['accuracy_hard']:.3f}, "
                     f"soft {r['accuracy_soft']:.3f}, entropy {r['entropy']:.2f}/{r['max_entropy']:.2f}, "
                     f"mean atypicality {r.get('mean_atypicality', float('nan')):.3f}")
    t = results.search_timing
    if t:
        lines.append(f"search time per 1k queries: full {t['full_ms_per_1k_queries']:.2f} ms, "
                     f"routed top-1 {t['routed_top1_ms_per_1k_queries']:.2f} ms")
    return "\n".join(lines)
