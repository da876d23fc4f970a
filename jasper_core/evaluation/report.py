"""Render an ``eval.json`` structure as a table (console logger, ``jasper eval``, ``make demo``)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

COLUMNS = ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10")
HEADERS = {"recall@1": "R@1", "recall@5": "R@5", "recall@10": "R@10", "mrr": "MRR", "ndcg@10": "nDCG@10"}


def eval_table(results: dict[str, Any], title: str | None = None) -> Table:
    """One row per steering variant of the model, then the baselines; best MRR in bold."""
    split = results.get("split", "?")
    title = title or f"retrieval on {split} ({results.get('num_queries', '?')} queries, corpus {results.get('corpus_size', '?')})"
    table = Table(title=title, title_justify="left")
    cols = [c for c in COLUMNS if any(c in m for m in results.get("model", {}).values())] or list(COLUMNS)
    table.add_column("predictor", no_wrap=True)
    for c in cols:
        table.add_column(HEADERS.get(c, c), justify="right")
    rows = [(f"model, {v} steering", m) for v, m in results.get("model", {}).items()]
    for v, by_m in results.get("routed", {}).items():
        rows += [(f"  routed {m}, {v} steering", metrics) for m, metrics in by_m.items()]
    rows += [(f"baseline {b}", m) for b, m in results.get("baselines", {}).items()]
    for name, metrics in rows:
        style = "dim" if name.startswith("baseline") else ("italic" if name.startswith("  routed") else None)
        table.add_row(name, *[f"{metrics.get(c, float('nan')):.3f}" for c in cols], style=style)
    return table


def verdict(results: dict[str, Any], metric: str = "mrr") -> str:
    """One line: does the model beat plain cosine retrieval (and the cluster-filtered search)?"""
    model = results.get("model", {})
    base = results.get("baselines", {})
    if not model or "question_cosine" not in base:
        return ""
    best_variant, best = max(((v, m[metric]) for v, m in model.items()), key=lambda t: t[1])
    cos = base["question_cosine"][metric]
    line = f"best model {metric} {best:.3f} ({best_variant} steering) vs question_cosine {cos:.3f}: "
    line += f"{'beats' if best > cos else 'does NOT beat'} plain cosine retrieval ({best - cos:+.3f})"
    if "cluster_filtered" in base:
        cf = base["cluster_filtered"][metric]
        line += f"; cluster_filtered {cf:.3f} ({'beaten' if best > cf else 'not beaten'})"
    return line


def routing_summary(results: dict[str, Any]) -> str:
    """One line per variant on routing quality and routed-search speed (empty for non-routing models)."""
    lines = []
    for variant, r in results.get("routing", {}).items():
        lines.append(f"routing ({variant} steering): hard accuracy {r['accuracy_hard']:.3f}, soft {r['accuracy_soft']:.3f}, "
                     f"entropy {r['entropy']:.2f}/{r['max_entropy']:.2f}, residual norm {r.get('residual_norm', float('nan')):.3f}")
    t = results.get("search_timing")
    if t:
        lines.append(f"search time per 1k queries: full {t['full_ms_per_1k_queries']:.2f} ms, "
                     f"routed top-1 {t['routed_top1_ms_per_1k_queries']:.2f} ms")
    return "\n".join(lines)
