"""The core function that runs a retrieval evaluation through the recipe's metric plugin."""

from __future__ import annotations

from typing import Any, Callable

import torch

from jasper_core.contracts import Dataset, EvalContext, EvalResults, Prediction, Predictor, StepState


def run_evaluation(model: Predictor, target_space: Callable[[torch.Tensor], torch.Tensor], dataset: Dataset,
                   recipe: Any, registries: Any, split: str, state: StepState | None = None) -> EvalResults:
    """Evaluate ``model`` on ``split`` with the recipe's metric (``eval.metric``) and settings.

    Args:
        state: the step state to predict with (default: after training, target-space centroids).

    Raises:
        TypeError: the metric plugin did not return :class:`EvalResults` (names the metric).
    """
    section = recipe.eval
    was_training = model.training
    model.eval()
    with torch.no_grad():
        state = state or StepState.after_training(target_space(dataset.centroids))

    @torch.no_grad()
    def explain(question: torch.Tensor, steering: torch.Tensor) -> Prediction:
        return model(question, steering, state)

    @torch.no_grad()
    def encode(x: torch.Tensor) -> torch.Tensor:
        return target_space(x)

    ctx = EvalContext(
        dataset=dataset, split=split, pairs=dataset.split(split), explain=explain, encode=encode,
        variants=tuple(section.variants), ks=tuple(section.ks), batch_size=section.batch_size,
        per_cluster=section.per_cluster, routed_top_m=tuple(section.routed_top_m),
    )
    metric = section.metric.build(registries)
    try:
        results = metric(ctx)
    finally:
        model.train(was_training)
    if not isinstance(results, EvalResults):
        raise TypeError(f'metric "{section.metric.type}" (from {section.metric.plugin}) returned '
                        f"{type(results).__name__}; a metric must return jasper_core.EvalResults")
    return results
