"""The model card (``README.md`` of a model directory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from jasper_core.contracts.steering import STEERING_VARIANTS, label
from jasper_core.inference.layout import NOT_TEXT_MODELS

METRICS = ("recall@1", "recall@10", "mrr", "ndcg@10")


def _row(name: str, scores: Mapping[str, Any]) -> str:
    return f"| {name} | " + " | ".join(f"{float(scores[m]):.3f}" if m in scores else "–" for m in METRICS) + " |"


def eval_section(evaluation: Mapping[str, Any], metric: str) -> list[str]:
    """The run's ``eval.json`` as markdown: the model per steering variant next to the baselines, then
    the paired differences on ``metric`` with their 95% confidence intervals."""
    lines = [f"## Retrieval ({evaluation.get('split', '?')} split, {evaluation.get('num_queries', '?')} queries, "
             f"corpus {evaluation.get('corpus_size', '?')})", "",
             f"From the run's `eval.json` (checkpoint evaluated: `{Path(evaluation.get('checkpoint') or 'best.pt').name}`).", "",
             "| predictor | " + " | ".join(METRICS) + " |", "|---|" + "---:|" * len(METRICS)]
    for variant, scores in evaluation.get("model", {}).items():
        name = label(variant) if variant in STEERING_VARIANTS else variant
        lines.append(_row(f"model, {name} steering", scores))
    for variant, by_m in evaluation.get("routed", {}).items():
        lines += [_row(f"model, {variant} steering, routed {m}", scores) for m, scores in by_m.items()]
    lines += [_row(f"baseline {name}", scores) for name, scores in evaluation.get("baselines", {}).items()]
    diffs = [(v, b, d[metric]) for v, by_b in evaluation.get("differences", {}).items()
             for b, d in by_b.items() if metric in d]
    if diffs:
        lines += ["", f"Model minus baseline, {metric} (paired bootstrap over queries, 95% CI; a difference counts "
                  "only when its interval excludes 0):", "", "| steering | baseline | difference | 95% CI |", "|---|---|---:|---|"]
        lines += [f"| {v} | {b} | {d['diff']:+.3f} | [{d['low']:+.3f}, {d['high']:+.3f}] |" for v, b, d in diffs]
    return lines


def model_card(config: Mapping[str, Any], evaluation: Mapping[str, Any] | None, name: str) -> str:
    """Markdown: what the model is, how to use it, its evaluation, and the hints it accepts."""
    ck, steering = config["checkpoint"], config["steering"]
    embedder = config.get("embedding_model")
    text_ok = bool(embedder) and embedder not in NOT_TEXT_MODELS
    first = config["cluster_names"][0] if config["cluster_names"] else "NAME"
    lines = [
        f"# {name}: a JASPER retrieval predictor", "",
        f"A `{config['model_type']}` model trained with jasper {config['jasper_version']}: it takes a question embedding "
        "and an optional steering hint and predicts the embedding of the source passage that answers the question. "
        f"Embedding dimension {config['dim']}, {config['num_clusters']} clusters, target space `{config['target_mode']}`, "
        f"embedding model `{embedder or 'unknown'}`. Exported from `{ck['file']}` (epoch {ck['epoch']}, step {ck['step']}).",
        "", "## Usage", "", "```python", "import jasper", "", f'model = jasper.load("{name}")',
    ]
    if text_ok:
        lines += ['model.index(["passage one ...", "passage two ..."], ids=["a", "b"])',
                  f'model.search(["my question"], k=10, steering="{first}")   # a cluster name as a hint']
    else:
        lines += ["# this model's data came as vectors: pass float tensors [N, D], not text",
                  "model.index(corpus_embeddings)", "model.search(question_embeddings, k=10)"]
    lines += ["```", "", "```sh", f"jasper search {name} --corpus corpus.jsonl --question \"...\" --k 10", "```", ""]
    if evaluation:
        lines += eval_section(evaluation, steering.get("best_metric", "mrr")) + [""]
    else:
        lines += ["No evaluation file (`eval.json`) was found in the run directory.", ""]
    trained = ", ".join(f"{v} {p:.2f}" for v, p in steering["end"].items())
    lines += [
        "## Hints at query time", "",
        f"Steering probabilities at the end of training: {trained}; selection variant `{steering['best_variant']}`.", "",
        "- none (`steering=None`): the question alone.",
        "- a cluster name (`steering=\"NAME\"`, `--cluster NAME`): the centroid formula, a topic hint. "
        f"Clusters: {', '.join(f'`{n}`' for n in config['cluster_names'])}.",
        ("- keywords (`steering=jasper.Keywords(\"...\")`, `--keywords TEXT`): the text is embedded with "
         f"`{embedder}` and used as the keyword hint." if text_ok else
         "- keywords: not available, this model has no text embedding model."),
        "- a steering vector `[D]` or `[N, D]` of your own.", "",
    ]
    return "\n".join(lines)
