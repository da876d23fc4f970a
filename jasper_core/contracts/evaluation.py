"""What a metric plugin receives (:class:`EvalContext`) and returns (:class:`EvalResults`)."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import attrs
import torch

from jasper_core.contracts.dataset import Dataset
from jasper_core.contracts.model import Prediction

Scores = dict[str, float]  # metric name -> value, e.g. {"mrr": 0.61, "recall@10": 0.83}


@attrs.frozen(kw_only=True)
class EvalContext:
    """Inputs of a retrieval evaluation on one split.

    Attributes:
        dataset: the dataset (corpus = ``dataset.sources``).
        split: split name.
        pairs: ``[N]`` long pair indices of the split.
        explain: ``(question [B,D], steering [B,D]) -> Prediction`` in the target space (no grad).
        encode: raw embeddings ``[N,D]`` → target space ``[N,D]`` (no grad).
        variants: steering variants to evaluate.
        ks: recall cut-offs.
        batch_size: queries scored at once.
        per_cluster: also report metrics per cluster.
        routed_top_m: for routing models, also search only the sources of the top-m routed clusters.
    """

    dataset: Dataset
    split: str
    pairs: torch.Tensor
    explain: Callable[[torch.Tensor, torch.Tensor], Prediction]
    encode: Callable[[torch.Tensor], torch.Tensor]
    variants: tuple[str, ...]
    ks: tuple[int, ...]
    batch_size: int
    per_cluster: bool = False
    routed_top_m: tuple[int, ...] = (1, 3)


def _flatten(prefix: str, value: Any, out: dict[str, float]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}/{key}", inner, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[prefix] = float(value)


@attrs.define(kw_only=True)
class EvalResults:
    """Retrieval figures of one evaluation (what ``eval.json`` holds).

    Attributes:
        split / num_queries / corpus_size: what was evaluated.
        model: ``{variant: {metric: value}}`` of the model's predictions per steering variant.
        baselines: ``{name: {metric: value}}``, e.g. ``question_cosine``, ``cluster_filtered``.
        differences: ``{variant: {baseline: {metric: {"diff", "low", "high"}}}}``: the model's paired
            difference to each baseline with its 95% confidence interval (bootstrap over queries).
        routed: ``{variant: {"true_cluster": {metric: value}, "top1": ..., "soft": ...}}``: the
            prediction searched in its true cluster only (``true_cluster``, an oracle router, to set
            against the ``cluster_filtered`` baseline; every model), and for routing models search
            restricted to the top-m routed clusters and full search with scores re-weighted by the
            routing (``soft``).
        routing: ``{variant: {figure: value}}`` routing accuracy, entropy, load, atypicality.
        per_cluster: ``{row: {cluster: {metric: value}}}`` with rows like ``"model/zero"``.
        search_timing: ``{name: milliseconds per 1,000 queries}``.
        samples: a few evaluated pairs explained (texts, routed cluster, rank).
        checkpoint: which checkpoint was evaluated (``"best"``, ``"last"`` or a path).
        best: the best-checkpoint record of the run (``metric``, ``variant``, ``value``, ``epoch``).
    """

    split: str
    num_queries: int
    corpus_size: int
    model: dict[str, Scores]
    baselines: dict[str, Scores] = attrs.field(factory=dict)
    differences: dict[str, dict[str, dict[str, dict[str, float]]]] = attrs.field(factory=dict)
    routed: dict[str, dict[str, Scores]] = attrs.field(factory=dict)
    routing: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    per_cluster: dict[str, dict[str, Scores]] = attrs.field(factory=dict)
    search_timing: dict[str, float] = attrs.field(factory=dict)
    samples: list[dict[str, Any]] = attrs.field(factory=list)
    checkpoint: str | None = None
    best: dict[str, Any] = attrs.field(factory=dict)

    def score(self, metric: str, variant: str) -> float:
        """The model's ``metric`` with steering ``variant``.

        Raises:
            ValueError: the variant or metric was not evaluated (lists what was).
        """
        if variant not in self.model:
            raise ValueError(f"steering variant {variant!r} was not evaluated; evaluated: {', '.join(self.model) or '(none)'}")
        scores = self.model[variant]
        if metric not in scores:
            raise ValueError(f"metric {metric!r} was not computed; computed: {', '.join(scores) or '(none)'}")
        return float(scores[metric])

    def baseline(self, name: str, metric: str) -> float | None:
        """A baseline's ``metric``, or None when that baseline was not computed."""
        value = self.baselines.get(name, {}).get(metric)
        return None if value is None else float(value)

    def difference(self, variant: str, baseline: str, metric: str) -> dict[str, float] | None:
        """``{"diff", "low", "high"}`` of the model with ``variant`` minus ``baseline``, or None."""
        return self.differences.get(variant, {}).get(baseline, {}).get(metric)

    def flat(self) -> dict[str, float]:
        """Every numeric figure under a slash path: ``model/zero/mrr``, ``baselines/question_cosine/mrr``,
        ``differences/zero/question_cosine/mrr/diff``, ``routed/zero/top1/mrr``,
        ``routing/zero/accuracy_hard``, ``search_timing/...``."""
        out: dict[str, float] = {}
        for name in ("model", "baselines", "differences", "routed", "routing", "search_timing"):
            _flatten(name, getattr(self, name), out)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (empty sections left out)."""
        return {k: v for k, v in attrs.asdict(self, recurse=False).items() if v not in ({}, [], None)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EvalResults":
        """Read back :meth:`to_dict` output (e.g. an ``eval.json``); unknown keys are ignored."""
        names = {f.name for f in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
