"""What a metric plugin receives, and the core function that runs an evaluation."""

from __future__ import annotations

from typing import Any, Callable

import attrs
import torch

from jasper_core.data import Dataset


@attrs.frozen(kw_only=True)
class EvalContext:
    """Inputs of a retrieval evaluation on one split.

    Attributes:
        dataset: the dataset (corpus = ``dataset.sources``).
        split: split name.
        pairs: ``[N]`` long pair indices of the split.
        predict: ``(question [B,D], steering [B,D]) -> prediction [B,D]`` in the target space (no grad).
        explain: like ``predict`` but returns the full :class:`jasper_core.model.Prediction`.
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
    predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    explain: Callable[[torch.Tensor, torch.Tensor], Any]
    encode: Callable[[torch.Tensor], torch.Tensor]
    variants: tuple[str, ...]
    ks: tuple[int, ...]
    batch_size: int
    per_cluster: bool = False
    routed_top_m: tuple[int, ...] = (1, 3)


def run_evaluation(model: torch.nn.Module, target: Callable, dataset: Dataset, recipe: Any, registries: Any,
                   split: str) -> dict[str, Any]:
    """Evaluate ``model`` on ``split`` with the recipe's metric (``eval.metric``) and settings."""
    eval_section = recipe.eval
    was_training = model.training
    model.eval()
    if hasattr(model, "set_target_centroids"):
        with torch.no_grad():
            model.set_target_centroids(target(dataset.centroids))

    @torch.no_grad()
    def explain(question: torch.Tensor, steering: torch.Tensor):
        return model(question, steering)

    def predict(question: torch.Tensor, steering: torch.Tensor) -> torch.Tensor:
        return explain(question, steering).prediction.float()

    @torch.no_grad()
    def encode(x: torch.Tensor) -> torch.Tensor:
        return target(x)

    ctx = EvalContext(
        dataset=dataset, split=split, pairs=dataset.split(split), predict=predict, explain=explain, encode=encode,
        variants=tuple(eval_section.variants), ks=tuple(eval_section.ks), batch_size=eval_section.batch_size,
        per_cluster=eval_section.per_cluster, routed_top_m=tuple(recipe.routing.routed_top_m),
    )
    metric = eval_section.metric.build(registries)
    try:
        return metric(ctx)
    finally:
        model.train(was_training)
