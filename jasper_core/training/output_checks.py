"""Check what plugins return before the core uses it: a model's :class:`Prediction`, a loss's dict,
a schedule's values. A plugin that breaks its contract is named in one line (its recipe path,
registered name and distribution) instead of failing later in a traceback inside the core.

The checks read only shapes, dtypes and Python types (no value of a device tensor), so they cost
no host synchronisation per step; schedules are pure functions, probed once when they are built.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch

from jasper_core.contracts import Prediction, StepState
from jasper_core.errors import JasperError, PluginOutputError, Problem, RecipeError


def _who(comp: Any) -> str:
    """``model "jepa" (model, from jasper 0.1.0)`` for a recipe component."""
    return f'{comp.kind} "{comp.type}" ({comp.path}, from {comp.plugin})'


def model_failure(exc: Exception, comp: Any) -> PluginOutputError:
    """The one-line error for a model that raised inside a training step (the original is chained)."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return PluginOutputError(f"{_who(comp)} raised {type(exc).__name__} in a training step: {first}")


def check_prediction(out: Any, question: torch.Tensor, comp: Any) -> Prediction:
    """Check a model's output for a batch of questions ``[B, D]``; returns it.

    Raises:
        PluginOutputError: not a Prediction, or its ``prediction`` is not a floating ``[B, D]`` tensor.
    """
    want = f"[{question.shape[0]}, {question.shape[1]}]"
    if not isinstance(out, Prediction):
        raise PluginOutputError(f"{_who(comp)} returned {type(out).__name__}; a model must return "
                                f"jasper_core.Prediction(prediction=<{want} tensor>)")
    pred = out.prediction
    if not torch.is_tensor(pred):
        raise PluginOutputError(f"{_who(comp)} returned a prediction of type {type(pred).__name__}; expected a {want} tensor")
    if tuple(pred.shape) != tuple(question.shape):
        raise PluginOutputError(f"{_who(comp)} returned a prediction of shape {list(pred.shape)}; expected {want} "
                                "(one row per question, in the embedding dimension)")
    if not pred.is_floating_point():
        raise PluginOutputError(f"{_who(comp)} returned a prediction of dtype {pred.dtype}; expected a floating dtype")
    if not isinstance(out.explanation, Mapping):
        raise PluginOutputError(f"{_who(comp)} returned an explanation of type {type(out.explanation).__name__}; "
                                "expected a mapping of name -> tensor")
    return out


@torch.no_grad()
def probe_model(model: torch.nn.Module, target_space: torch.nn.Module, dataset: Any, comp: Any) -> None:
    """Run the model once on two questions, in eval mode, before anything else uses it; the RNG
    state and the model's mode are left as they were (no other component's numbers change).

    Raises:
        PluginOutputError: the model raised, or see :func:`check_prediction`.
    """
    rows = dataset.pair_question[dataset.split("train")[:2]]
    question = dataset.questions[rows].float()
    was = model.training
    devices = [question.device] if question.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        model.eval()
        try:
            state = StepState(step=0, total_steps=1, centroids=target_space(dataset.centroids))
            out = model(question, torch.zeros_like(question), state)
        except (RuntimeError, ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
            if isinstance(exc, (JasperError, torch.OutOfMemoryError)):
                raise
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise PluginOutputError(f"{_who(comp)} failed on two training questions: {type(exc).__name__}: {first}") from exc
        finally:
            model.train(was)
        check_prediction(out, question, comp)


def check_loss_output(out: Any, name: str) -> torch.Tensor:
    """Check one loss term's output: a mapping with a ``"loss"`` scalar floating tensor; returns it.

    Raises:
        PluginOutputError: one line naming the loss term.
    """
    if not isinstance(out, Mapping) or "loss" not in out:
        raise PluginOutputError(f'loss "{name}" returned {type(out).__name__}; a loss must return a dict with a "loss" '
                                "entry (a scalar tensor) and optional extra figures")
    value = out["loss"]
    if not torch.is_tensor(value):
        raise PluginOutputError(f'loss "{name}" returned "loss" of type {type(value).__name__}; expected a scalar tensor')
    if value.numel() != 1:
        raise PluginOutputError(f'loss "{name}" returned "loss" of shape {list(value.shape)}; expected a scalar '
                                "(reduce it, e.g. .mean())")
    if not value.is_floating_point():
        raise PluginOutputError(f'loss "{name}" returned "loss" of dtype {value.dtype}; expected a floating dtype')
    for key, extra in out.items():
        if key != "loss" and not (torch.is_tensor(extra) and extra.numel() == 1) and \
                not (isinstance(extra, (int, float)) and not isinstance(extra, bool)):
            raise PluginOutputError(f'loss "{name}" returned extra figure "{key}" of type {type(extra).__name__}; '
                                    "extra figures must be numbers or one-element tensors")
    return value.reshape(())


def check_schedule_range(schedule: Callable[[int, int], Any], comp: Any, low: float, high: float | None,
                         what: str) -> Callable[[int, int], Any]:
    """Probe a scalar schedule at the start, middle and end of a run: every value must be finite and in
    ``[low, high]`` (``high`` None: no upper bound). Returns the schedule.

    Raises:
        RecipeError: at the schedule's recipe path, with the first value out of range.
    """
    for total in (1, 1000):
        for step in sorted({0, total // 4, total // 2, 3 * total // 4, total}):
            value = float(schedule(step, total))
            if not math.isfinite(value) or value < low or (high is not None and value > high):
                bound = f"between {low} and {high}" if high is not None else f">= {low}"
                raise RecipeError("recipe", [Problem(comp.path, f"{what} must stay {bound}, but schedule "
                                                                f'"{comp.type}" gives {value} at step {step} of {total}   '
                                                                f"(schedule \"{comp.type}\" from {comp.plugin})")])
    return schedule
