"""The top-level shape of a recipe: ``[data] [model] [ema] [[loss]] [optim] [train] [eval] [[logger]]``.

Component tables (``type = "..."``) are declared with :func:`component` / :func:`components`;
their remaining keys are structured into the registered component's own config class.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Mapping

import attrs

from jasper_core.recipe.component import Component
from jasper_core.recipe.structure import DEFAULT_KEY, ENVELOPE_KEY, KIND_KEY
from jasper_core.validators import at_least, each, non_negative, one_of, positive

VARIANTS = ("zero", "centroid", "keyword", "residual")


def component(kind: str, default: Mapping[str, Any], *, envelope: Mapping[str, Any] | None = None) -> Any:
    """A field holding one component table of ``kind`` (``default`` is its TOML table)."""
    return attrs.field(metadata={KIND_KEY: kind, DEFAULT_KEY: dict(default), ENVELOPE_KEY: dict(envelope or {})})


def components(kind: str, default: list[Mapping[str, Any]], *, envelope: Mapping[str, Any] | None = None) -> Any:
    """A field holding a list of component tables (``[[loss]]``)."""
    return attrs.field(metadata={KIND_KEY: kind, DEFAULT_KEY: [dict(d) for d in default], ENVELOPE_KEY: dict(envelope or {})})


def _device(instance: Any, attribute: Any, value: str) -> None:
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", value):
        raise ValueError(f'must be "auto", "cpu", "cuda", "cuda:N" or "mps", got {value!r}')


@attrs.frozen(kw_only=True)
class EmaSection:
    """The target space: an EMA of the online encoder, the identity, or a frozen copy."""

    target: Literal["ema", "identity", "frozen"] = "ema"
    encoder: Component = component("encoder", {"type": "residual_mlp"})
    tau: Component = component("schedule", {"type": "cosine", "start": 0.996, "end": 0.999})


@attrs.frozen(kw_only=True)
class OptimSection:
    """Optimiser and learning-rate schedule (the schedule returns a multiplier of ``lr``)."""

    type: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = attrs.field(default=3e-4, validator=positive)
    weight_decay: float = attrs.field(default=0.01, validator=non_negative)
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = attrs.field(default=0.9, validator=non_negative)
    grad_clip: float = attrs.field(default=1.0, validator=non_negative)
    schedule: Component = component("schedule", {"type": "warmup_cosine", "warmup_steps": 100})


@attrs.frozen(kw_only=True)
class TrainSection:
    """The training loop."""

    __jasper_moved__ = {"lr": "[optim] (optim.lr)", "weight_decay": "[optim]", "grad_clip": "[optim]"}

    epochs: int = attrs.field(default=10, validator=at_least(1))
    batch_size: int = attrs.field(default=64, validator=at_least(1))
    seed: int = 0
    device: str = attrs.field(default="auto", validator=_device)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    drop_last: bool = True
    nonfinite: Literal["stop", "skip"] = "stop"
    max_skipped_steps: int = attrs.field(default=20, validator=at_least(0))
    aux_warmup_epochs: int = attrs.field(default=0, validator=at_least(0))
    loss_weighting: Literal["fixed", "uncertainty"] = "fixed"
    log_every: int = attrs.field(default=10, validator=at_least(1))
    checkpoint_every: int = attrs.field(default=0, validator=at_least(0))
    keep_checkpoints: int = attrs.field(default=3, validator=at_least(1))
    curriculum: Component = component("schedule", {"type": "steering_curriculum"})


@attrs.frozen(kw_only=True)
class EvalSection:
    """Retrieval evaluation (before training, after each ``every`` epochs, at the end)."""

    split: Literal["val", "test"] = "val"
    final_split: Literal["val", "test"] = "test"
    every: int = attrs.field(default=1, validator=at_least(1))
    ks: tuple[int, ...] = attrs.field(default=(1, 5, 10), validator=each(at_least(1)))
    variants: tuple[str, ...] = attrs.field(default=VARIANTS, validator=each(one_of(VARIANTS)))
    best_metric: str = attrs.field(default="mrr", validator=one_of(("mrr", "recall@1", "recall@5", "recall@10", "ndcg@10")))
    best_variant: str = attrs.field(default="zero", validator=one_of(VARIANTS))
    per_cluster: bool = False
    batch_size: int = attrs.field(default=1024, validator=at_least(1))
    metric: Component = component("metric", {"type": "retrieval"})


@attrs.frozen(kw_only=True)
class RoutingSection:
    """Subspace routing (used by routing models such as ``decomposed``; ignored by others)."""

    router: Component = component("router", {"type": "gumbel_softmax"})
    temperature: Component = component("schedule", {"type": "cosine", "start": 1.0, "end": 0.1})
    entropy: Component = component("schedule", {"type": "cosine", "start": 0.8, "end": 0.1})
    balanced_batches: bool = False
    routed_top_m: tuple[int, ...] = attrs.field(default=(1, 3), validator=each(at_least(1)))


@attrs.frozen(kw_only=True)
class Recipe:
    """A whole recipe after validation and component resolution."""

    requires: tuple[str, ...] = ()
    description: str = ""
    data: Component = component("dataset", {"type": "jasper"})
    model: Component = component("model", {"type": "jepa"})
    ema: EmaSection = attrs.field()
    loss: tuple[Component, ...] = components(
        "loss", [{"type": "jepa", "weight": 1.0}], envelope={"weight": (float, non_negative, 1.0)}
    )
    optim: OptimSection = attrs.field()
    train: TrainSection = attrs.field()
    eval: EvalSection = attrs.field()
    routing: RoutingSection = attrs.field()
    logger: tuple[Component, ...] = components("logger", [{"type": "console"}])
