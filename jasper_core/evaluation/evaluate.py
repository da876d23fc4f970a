"""The core function that runs a retrieval evaluation through the recipe's metric plugin.

In a multi-process job the model's work is split between the ranks: every call of the context's
``encode`` (the corpus) and ``explain`` (the queries) is cut into one contiguous shard per rank
(:func:`jasper_core.distributed.shard_bounds`), each rank runs its shard, and the shards are gathered
back in order with no row padded in or repeated. The metric then sees exactly the tensors of a
one-process run, so the figures are the same under any world size; rank 0's are the ones written.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from jasper_core.contracts import Dataset, EvalContext, EvalResults, Prediction, Predictor, StepState
from jasper_core.distributed import World, current, gather_shards, shard_bounds


def sharded_encode(encode: Callable[[torch.Tensor], torch.Tensor], world: World) -> Callable[[torch.Tensor], torch.Tensor]:
    """``encode`` of ``[N, D]`` rows, each rank encoding its shard; every rank gets all ``N`` rows."""
    if not world.distributed:
        return encode

    def run(x: torch.Tensor) -> torch.Tensor:
        start, stop = shard_bounds(x.shape[0], world.size, world.rank)
        return gather_shards(encode(x[start:stop]), x.shape[0], world)

    return run


def sharded_explain(explain: Callable[[torch.Tensor, torch.Tensor], Prediction],
                    world: World) -> Callable[[torch.Tensor, torch.Tensor], Prediction]:
    """``explain`` of ``[N, D]`` questions and steering, each rank predicting its shard; every rank gets
    the whole :class:`Prediction` (the prediction and each per-row explanation tensor, gathered)."""
    if not world.distributed:
        return explain

    def run(question: torch.Tensor, steering: torch.Tensor) -> Prediction:
        n = question.shape[0]
        start, stop = shard_bounds(n, world.size, world.rank)
        out = explain(question[start:stop], steering[start:stop])
        return Prediction(prediction=gather_shards(out.prediction, n, world),
                          explanation={k: gather_shards(v, n, world) for k, v in out.explanation.items()})

    return run


def run_evaluation(model: Predictor, target_space: Callable[[torch.Tensor], torch.Tensor], dataset: Dataset,
                   recipe: Any, registries: Any, split: str, state: StepState | None = None,
                   world: World | None = None) -> EvalResults:
    """Evaluate ``model`` on ``split`` with the recipe's metric (``eval.metric``) and settings.

    Args:
        state: the step state to predict with (default: after training, target-space centroids).
        world: the job's processes (default: the current process group); every rank must call this.

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
        dataset=dataset, split=split, pairs=dataset.split(split), explain=sharded_explain(explain, world or current()),
        encode=sharded_encode(encode, world or current()),
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
