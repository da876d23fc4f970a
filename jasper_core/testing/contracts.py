"""Contract checks for routers, models, schedules and loggers: run them on your own component.

Example::

    from jasper_core.testing import check_router
    def test_my_router():
        check_router(lambda dim, num_clusters: MyRouter(MyConfig(), dim=dim, num_clusters=num_clusters))
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import pluggy
import torch

from jasper_core.contracts import (
    ATYPICALITY,
    COARSE,
    FINE,
    ROUTING_LOGITS,
    ROUTING_WEIGHTS,
    EvalResults,
    Prediction,
    Predictor,
    RunInfo,
    StepState,
)
from jasper_core.hookspecs import SPEC_MODULES
from jasper_core.hookspecs.markers import PROJECT


def _inputs(batch: int, dim: int, num_clusters: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    question = torch.randn(batch, dim, generator=g).requires_grad_(True)
    steering = torch.randn(batch, dim, generator=g)
    state = StepState(step=3, total_steps=10, centroids=torch.nn.functional.normalize(torch.randn(num_clusters, dim, generator=g), dim=-1))
    return question, steering, state


def check_router(make_router: Callable[[int, int], torch.nn.Module], *, dim: int = 8, num_clusters: int = 4,
                 batch: int = 6) -> None:
    """Assert the router contract: ``(question [B,D], steering [B,D], state) -> (weights [B,C], logits [B,C])``.

    Checked in training and eval mode: shapes; weights non-negative rows summing to 1; finite
    logits; eval mode deterministic; gradients reach the question and the router's parameters.
    """
    router = make_router(dim, num_clusters)
    question, steering, state = _inputs(batch, dim, num_clusters)
    for training in (True, False):
        router.train(training)
        weights, logits = router(question, steering, state)
        mode = "training" if training else "eval"
        assert weights.shape == logits.shape == (batch, num_clusters), \
            f"{mode}: weights {tuple(weights.shape)} / logits {tuple(logits.shape)}, expected {(batch, num_clusters)}"
        assert torch.isfinite(logits).all(), f"{mode}: logits are not finite"
        assert (weights >= 0).all() and torch.allclose(weights.sum(-1), torch.ones(batch), atol=1e-4), \
            f"{mode}: routing weights must be non-negative and sum to 1 per row"
        if training:
            (weights * torch.arange(num_clusters)).sum().backward()
            assert question.grad is not None and question.grad.abs().sum() > 0, "no gradient reaches the question"
            params = [p for p in router.parameters() if p.requires_grad]
            assert not params or any(p.grad is not None and p.grad.abs().sum() > 0 for p in params), \
                "no gradient reaches the router's parameters"
    with torch.no_grad():
        assert torch.equal(router(question, steering, state)[0], router(question, steering, state)[0]), \
            "eval-mode routing must be deterministic"


def check_model(make_model: Callable[[int, int], Predictor], *, dim: int = 8, num_clusters: int = 4,
                batch: int = 6) -> None:
    """Assert the predictor contract: a :class:`Predictor` mapping ``(question, steering, state)`` to a
    :class:`Prediction` with ``prediction [B, D]``; explanation entries of the documented shapes;
    deterministic in eval mode; gradients reach the online encoder (when there is one)."""
    model = make_model(dim, num_clusters)
    assert isinstance(model, Predictor), f"{type(model).__name__} must subclass jasper_core.Predictor"
    assert model.online_encoder is None or isinstance(model.online_encoder, torch.nn.Module), \
        "online_encoder must be a torch.nn.Module or None"
    question, steering, state = _inputs(batch, dim, num_clusters)
    model.train()
    out = model(question, steering, state)
    assert isinstance(out, Prediction), f"forward must return jasper_core.Prediction, got {type(out).__name__}"
    assert out.prediction.shape == (batch, dim), f"prediction {tuple(out.prediction.shape)}, expected {(batch, dim)}"
    assert torch.isfinite(out.prediction).all(), "prediction is not finite"
    shapes = {ROUTING_WEIGHTS: (batch, num_clusters), ROUTING_LOGITS: (batch, num_clusters), COARSE: (batch, dim),
              FINE: (batch, dim), ATYPICALITY: (batch,)}
    for key, shape in shapes.items():
        if key in out.explanation:
            assert tuple(out.explanation[key].shape) == shape, f"explanation[{key!r}] {tuple(out.explanation[key].shape)}, expected {shape}"
    target = torch.randn(batch, dim, generator=torch.Generator().manual_seed(1))
    (out.prediction - target).pow(2).sum().backward()
    if model.online_encoder is not None:
        grads = [p.grad for p in model.online_encoder.parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), "the online encoder receives no gradient"
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(question, steering, state).prediction, model(question, steering, state).prediction), \
            "eval-mode predictions must be deterministic"


def check_schedule(schedule: Callable[[int, int], Any], *, total_steps: int = 100) -> None:
    """Assert a schedule is a pure function of ``(step, total_steps)``: the same value whatever was
    asked before (so resume is exact), finite at every step including past the end, and a float
    or a sequence of floats."""
    steps = [0, 1, total_steps // 3, total_steps // 2, total_steps - 1, total_steps, total_steps + 5]
    first = [schedule(s, total_steps) for s in steps]
    again = [schedule(s, total_steps) for s in reversed(steps)][::-1]
    assert first == again, "the schedule's value depends on what was asked before (it must be a pure function)"
    for step, value in zip(steps, first):
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        assert values and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values), \
            f"value at step {step} is {value!r}: expected finite float(s)"
    assert schedule(0, 0) is not None, "total_steps = 0 must not fail"


def sample_results(split: str = "val") -> EvalResults:
    """A small but complete :class:`EvalResults` (for logger tests)."""
    scores = {"recall@1": 0.4, "recall@5": 0.6, "recall@10": 0.7, "mrr": 0.5, "ndcg@10": 0.55}
    return EvalResults(split=split, num_queries=10, corpus_size=100, model={"zero": dict(scores), "centroid": dict(scores)},
                       baselines={"question_cosine": dict(scores), "cluster_filtered": dict(scores)})


def check_logger(logger: object, run_dir: Path, *, recipe: dict[str, Any] | None = None) -> None:
    """Assert a logger is a valid lifecycle plugin: every ``hookimpl`` names a lifecycle hook with
    matching arguments, and a whole run of calls (start, steps, epochs, evaluations, a checkpoint,
    the end) goes through without raising."""
    manager = pluggy.PluginManager(PROJECT)
    for module in SPEC_MODULES:
        manager.add_hookspecs(module)
    manager.register(logger)
    manager.check_pending()
    run = RunInfo(run_dir=Path(run_dir), recipe=recipe or {"eval": {"best_metric": "mrr", "best_variant": "zero"}},
                  recipe_name="contract-check", epochs=2, steps_per_epoch=2, total_steps=4)
    hook = manager.hook
    hook.jasper_run_start(run=run)
    hook.jasper_eval_end(run=run, epoch=0, split="val", results=sample_results())
    for epoch in (1, 2):
        hook.jasper_epoch_start(run=run, epoch=epoch)
        for step in (2 * epoch - 1, 2 * epoch):
            hook.jasper_step_end(run=run, step=step, metrics={"loss": 1.0 / step, "lr": 1e-3})
        hook.jasper_epoch_end(run=run, epoch=epoch, metrics={"loss": 0.5, "pairs_per_s": 100.0})
        hook.jasper_eval_end(run=run, epoch=epoch, split="val", results=sample_results())
        hook.jasper_checkpoint_saved(run=run, path=str(Path(run_dir) / "checkpoints" / "last.pt"), tags=("last", "best"))
    hook.jasper_run_end(run=run, status="completed", metrics=sample_results("test"))
