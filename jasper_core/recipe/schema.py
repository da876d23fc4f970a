"""The top-level shape of a recipe: ``[data] [model] [target_space] [[loss]] [optim] [train] [eval] [[logger]]``.

Component tables (``type = "..."``) are declared with :func:`component` / :func:`components`;
their remaining keys are structured into the registered component's own config class.
Components a model or loss uses itself (a model's router, a loss's schedule) live inside its
table (``[model.router]``), declared by that component's config.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import attrs

from jasper_core.contracts.dataset import SPLITS
from jasper_core.contracts.steering import STEERING_VARIANTS
from jasper_core.recipe.component import Component, component, components
from jasper_core.validators import at_least, each, non_negative, one_of, positive, unit_interval_right_open


def _device(instance: Any, attribute: Any, value: str) -> None:
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", value):
        raise ValueError(f'must be "auto", "cpu", "cuda", "cuda:N" or "mps", got {value!r}')


@attrs.frozen(kw_only=True)
class TargetSpaceSection:
    """The space predictions, sources and centroids are compared in.

    ``mode``: ``ema`` (an exponential moving average of the online encoder, which learns),
    ``frozen`` (a fixed copy of the untrained online encoder) or ``identity`` (the raw embeddings).
    ``decay``: the EMA decay schedule (the weight kept from the previous target each step).
    """

    __jasper_moved__ = {"target": "target_space.mode (renamed)", "tau": "target_space.decay (renamed)"}

    mode: Literal["ema", "identity", "frozen"] = "ema"
    encoder: Component = component("encoder", {"type": "residual_mlp"})
    decay: Component = component("schedule", {"type": "cosine", "start": 0.996, "end": 0.999})


@attrs.frozen(kw_only=True)
class OptimSection:
    """Optimiser and learning-rate schedule (the schedule returns a multiplier of ``lr``)."""

    type: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = attrs.field(default=3e-4, validator=positive)
    weight_decay: float = attrs.field(default=0.01, validator=non_negative)
    betas: tuple[float, float] = attrs.field(default=(0.9, 0.999), validator=each(unit_interval_right_open))
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
    balanced_batches: bool = False
    loss_weighting: Literal["fixed", "uncertainty"] = "fixed"
    log_every: int = attrs.field(default=10, validator=at_least(1))
    compile: Literal["off", "default", "reduce-overhead", "max-autotune"] = "off"
    compile_tuning: bool = False
    cuda_graph: bool = False
    checkpoint_every: int = attrs.field(default=0, validator=at_least(0))
    keep_checkpoints: int = attrs.field(default=3, validator=at_least(1))
    curriculum: Component = component("schedule", {"type": "steering_curriculum"})

    def __attrs_post_init__(self) -> None:
        if self.cuda_graph and self.precision == "fp16":
            raise ValueError('train.cuda_graph does not support precision "fp16" (its loss scaler decides on the host); '
                             'use "bf16" or "fp32", or set cuda_graph = false')
        if self.compile_tuning and self.compile == "off":
            raise ValueError('train.compile_tuning tunes the kernels train.compile generates; set train.compile '
                             '(e.g. "default") or compile_tuning = false')
        if self.cuda_graph and self.compile in ("reduce-overhead", "max-autotune"):
            raise ValueError(f'train.cuda_graph captures the whole step itself; train.compile = "{self.compile}" '
                             'captures CUDA graphs too: use compile = "default" (or "off") with it')


@attrs.frozen(kw_only=True)
class EvalSection:
    """Retrieval evaluation (before training, after each ``every`` epochs, at the end)."""

    split: str = attrs.field(default="val", validator=one_of(SPLITS[1:]))
    final_split: str = attrs.field(default="test", validator=one_of(SPLITS[1:]))
    every: int = attrs.field(default=1, validator=at_least(1))
    ks: tuple[int, ...] = attrs.field(default=(1, 5, 10), validator=each(at_least(1)))
    variants: tuple[str, ...] = attrs.field(default=STEERING_VARIANTS, validator=each(one_of(STEERING_VARIANTS)))
    best_metric: str = attrs.field(default="mrr", validator=one_of(("mrr", "recall@1", "recall@5", "recall@10", "ndcg@10")))
    best_variant: str = attrs.field(default="zero", validator=one_of(STEERING_VARIANTS))
    per_cluster: bool = False
    batch_size: int = attrs.field(default=1024, validator=at_least(1))
    routed_top_m: tuple[int, ...] = attrs.field(default=(1, 3), validator=each(at_least(1)))
    metric: Component = component("metric", {"type": "retrieval"})

    def __attrs_post_init__(self) -> None:
        if self.best_variant not in self.variants:
            raise ValueError(f"eval.best_variant {self.best_variant!r} is not among eval.variants "
                             f"({', '.join(self.variants)}); add it there or choose one of them")
        k = self.best_metric.partition("recall@")[2]
        if k and int(k) not in self.ks:
            raise ValueError(f"eval.best_metric {self.best_metric!r} needs {k} in eval.ks (now {list(self.ks)}); "
                             f"add it there or choose another best_metric")


@attrs.frozen(kw_only=True)
class Recipe:
    """A whole recipe after validation and component resolution."""

    __jasper_moved__ = {
        "ema": "[target_space] (ema.target → target_space.mode, ema.tau → target_space.decay)",
        "routing": "the model's table ([model.router]; routing.temperature → model.router.temperature, "
                   "routing.entropy → the routing_entropy loss's [loss.entropy_target], routing.balanced_batches → "
                   "train.balanced_batches, routing.routed_top_m → eval.routed_top_m)",
    }

    requires: tuple[str, ...] = ()
    description: str = ""
    data: Component = component("dataset", {"type": "jasper"})
    model: Component = component("model", {"type": "jepa"})
    target_space: TargetSpaceSection = attrs.field()
    loss: tuple[Component, ...] = components(
        "loss", [{"type": "jepa", "weight": 1.0}], envelope={"weight": (float, non_negative, 1.0)}
    )
    optim: OptimSection = attrs.field()
    train: TrainSection = attrs.field()
    eval: EvalSection = attrs.field()
    logger: tuple[Component, ...] = components("logger", [{"type": "console"}])

    def __attrs_post_init__(self) -> None:
        if not any(comp.options.get("weight", 1.0) > 0 for comp in self.loss):
            raise ValueError("loss: there is nothing to train — add a [[loss]] table, or give one a weight above 0")
