"""One optimiser step: forward, losses in the target space, non-finite policy, backward, EMA."""

from __future__ import annotations

import contextlib
import math
import attrs
import torch
from torch.profiler import record_function

from jasper_core.contracts import Batch, LossInputs, Prediction, StepState
from jasper_core.errors import NonFiniteLossError
from jasper_core.training.assemble import Setup
from jasper_core.training.output_checks import check_prediction


@attrs.define
class StepResult:
    """Metrics of one step: the losses and the gradient norm as 0-dim tensors on the training device
    (read them with ``float`` only when they are logged: each read waits for the device), the
    learning rate and EMA decay as plain floats; ``skipped`` when a non-finite loss was skipped."""

    metrics: dict[str, torch.Tensor | float]
    skipped: bool = False
    bad_term: str | None = None


def autocast(setup: Setup):
    if setup.autocast_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=setup.device.type, dtype=setup.autocast_dtype)


def loss_inputs(setup: Setup, batch: Batch, prediction: Prediction, state: StepState) -> LossInputs:
    """Map the positive and the negatives into the target space and pack the loss inputs."""
    return LossInputs(
        prediction=prediction.prediction.float(),
        positive=setup.target_space(batch.source),
        negatives=setup.target_space(batch.negatives),
        negative_tiers=batch.negative_tiers,
        cluster=batch.cluster,
        state=state,
        explanation=prediction.explanation,
    )


def compute_losses(setup: Setup, batch: Batch, *, step: int, total_steps: int, aux_active: bool = True):
    """Forward pass and losses. Returns ``(total, components, prediction)``."""
    state = setup.step_state(step, total_steps)
    with autocast(setup):
        prediction = check_prediction(setup.model(batch.question, batch.steering, state), batch.question, setup.recipe.model)
    inputs = loss_inputs(setup, batch, prediction, state)
    total, parts = setup.composer(inputs, aux_active=aux_active)
    return total, parts, prediction


def first_nonfinite(parts: dict[str, torch.Tensor], total: torch.Tensor) -> str | None:
    """The first loss component (or ``"total"``) that is not finite, or None — one host read for all."""
    names = [*parts, "total"]
    finite = torch.stack([torch.isfinite(v).all() for v in (*parts.values(), total)]).cpu()
    bad = (~finite).nonzero()
    return names[int(bad[0])] if len(bad) else None


def train_step(setup: Setup, batch: Batch, *, step: int, total_steps: int, aux_active: bool) -> StepResult:
    """Run optimiser step ``step`` (0-based global step before the update)."""
    recipe = setup.recipe
    lr = recipe.optim.lr * setup.lr_schedule(step, total_steps)
    for group in setup.optimizer.param_groups:
        group["lr"] = lr
    setup.model.train()
    setup.optimizer.zero_grad(set_to_none=True)
    with record_function("jasper.forward"):
        total, parts, _ = compute_losses(setup, batch, step=step, total_steps=total_steps, aux_active=aux_active)
    bad = first_nonfinite(parts, total)
    if bad is not None:
        value = float(parts[bad].detach()) if bad in parts else float(total.detach())
        message = f"loss term {bad!r} is {value} at step {step + 1}"
        if recipe.train.nonfinite == "stop":
            raise NonFiniteLossError(message + "; stopping (train.nonfinite = \"stop\"); the last good checkpoint is kept")
        return StepResult({}, skipped=True, bad_term=message)
    with record_function("jasper.backward"):
        setup.scaler.scale(total).backward()
        setup.scaler.unscale_(setup.optimizer)
        params = [p for g in setup.optimizer.param_groups for p in g["params"] if p.grad is not None]
        clip = recipe.optim.grad_clip
        grad_norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else math.inf)
    if not torch.isfinite(grad_norm):
        setup.optimizer.zero_grad(set_to_none=True)
        setup.scaler.update()
        if recipe.train.nonfinite == "stop" and setup.autocast_dtype is not torch.float16:
            raise NonFiniteLossError(f"gradient norm is {float(grad_norm)} at step {step + 1}; stopping")
        return StepResult({}, skipped=True, bad_term=f"gradient norm is {float(grad_norm)} at step {step + 1}")
    with record_function("jasper.optimizer"):
        setup.scaler.step(setup.optimizer)
        setup.scaler.update()
    decay = setup.ema_decay(step, total_steps)
    with record_function("jasper.ema"):
        if setup.model.online_encoder is not None:
            setup.target_space.update(setup.model.online_encoder, decay)
    metrics = {"loss": total.detach(), "lr": lr, "ema_decay": decay, "grad_norm": grad_norm.detach(),
               **{k: v.detach() for k, v in parts.items()}}
    return StepResult(metrics)
