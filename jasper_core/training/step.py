"""One optimiser step: forward, losses in the target space, backward, optimiser, EMA — no host read.

Nothing in the step waits for the device: metrics stay device tensors, the non-finite policy is
decided on the device (:mod:`jasper_core.training.nonfinite`), gradients are clipped without
reading their norm, and a fused optimiser skips a bad step through ``found_inf``. (An optimiser
without a fused kernel — SGD here — costs one host read per step to skip.)
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

import attrs
import torch
from torch.profiler import record_function

from jasper_core.contracts import Batch, LossInputs, StepState
from jasper_core.errors import JasperError, first_line
from jasper_core.training.assemble import Setup
from jasper_core.training.materialize import with_materialized_labels
from jasper_core.training.nonfinite import GRAD_NORM, NonFiniteGuard
from jasper_core.training.output_checks import check_prediction, model_failure

log = logging.getLogger("jasper.train")


@attrs.define
class StepResult:
    """Metrics of one step.

    Attributes:
        names: the metric of each entry of ``values``: every loss component, ``loss`` (the total), ``grad_norm``.
        values: ``[N]`` float32 on the training device, 0 for a step skipped on the device. Summed
            on the device and read once per logging interval (a ``HostCopy`` queued behind the step).
        scalars: the learning rate and EMA decay, plain floats.
        taken: 0-dim float tensor, 1 when the update was applied, 0 when the step was skipped.
    """

    names: tuple[str, ...]
    values: torch.Tensor
    scalars: dict[str, float]
    taken: torch.Tensor

    @property
    def metrics(self) -> dict[str, torch.Tensor | float]:
        """Every metric by name: 0-dim device tensors and the plain scalars."""
        return {**dict(zip(self.names, self.values.unbind())), **self.scalars}


@attrs.frozen
class Rows:
    """A batch not gathered yet: pair indices ``rows [B]`` and steering codes ``codes [B]`` (long, on
    the device). Under ``train.compile = "default"`` on a GPU the step gathers them inside the compiled graph,
    where the table lookups, the float32 casts and the target encoder's input concatenation fuse
    into one pass (on the CPU that ran 3–4% slower than ATen's own gather, so it stays outside)."""

    rows: torch.Tensor
    codes: torch.Tensor


def step_batch(setup: Setup, rows: torch.Tensor, codes: torch.Tensor) -> "Batch | Rows":
    """What the step is given for ``rows``/``codes``: the gathered :class:`Batch`, or :class:`Rows` for
    the compiled step to gather itself — on a GPU under ``train.compile = "default"`` only: the modes
    that replay CUDA graphs (``reduce-overhead``, ``max-autotune``) would copy every table the gather
    reads into their own buffers at each replay (a plain object's tensors are not static inputs)."""
    if setup.compiled is not None and setup.device.type == "cuda" and setup.recipe.train.compile == "default":
        return Rows(rows, codes)
    with record_function("jasper.data"):
        return setup.dataset.gather(rows, codes)


def encode_targets(setup: Setup, batch: Batch, step: int, total_steps: int) -> tuple[StepState, torch.Tensor, torch.Tensor]:
    """The centroids ``[C, D]``, the source ``[B, D]`` and its negatives ``[B, K, D]`` in the target
    space, encoded in one call (under the run's autocast precision; returned as float32). Returns
    ``(state, positive, negatives)``."""
    centroids, positive, negatives = encode(setup, setup.dataset.centroids, batch.source, batch.negatives)
    return setup.step_state(step, total_steps, centroids), positive, negatives


def encode(setup: Setup, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``xs`` (each ``[..., D]``) in the target space, in one call of its encoder under the run's autocast
    precision; returned as float32, each in its own shape."""
    with autocast(xs[0].device, setup.autocast_dtype):
        encoded = setup.target_space.encode(*xs)
    return tuple(x.float() for x in encoded)


class ModelBatch(NamedTuple):
    """What the model and the losses read of a batch once its targets are encoded: ``question [B, D]``,
    ``steering [B, D]``, ``negative_tiers [B, K]`` and ``cluster [B]``.

    Under DDP the compiled step breaks at DDP's forward, and every tensor the step holds across that
    break is written out between two compiled graphs: the whole :class:`Batch` would write out its raw
    source ``[B, D]`` and negatives ``[B, K, D]`` in float32 as well (see :func:`forward_losses`).
    """

    question: torch.Tensor
    steering: torch.Tensor
    negative_tiers: torch.Tensor
    cluster: torch.Tensor

    @classmethod
    def of(cls, batch: Batch) -> "ModelBatch":
        return cls(batch.question, batch.steering, batch.negative_tiers, batch.cluster)


def autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` to ``dtype`` on ``device`` (``None``: off). Its weight cache is off: a
    captured step (``train.cuda_graph``) must not keep casts made outside the capture, and each
    weight is cast once per step anyway."""
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None, cache_enabled=False)


def run_model(model: torch.nn.Module, batch: ModelBatch, state: StepState, model_comp: Any = None):
    """``model``'s :class:`Prediction` for the batch; a plugin's error is raised naming the plugin (``model_comp``).

    A function of its own: under DDP, ``train.compile`` meets a graph break in DDP's forward, and dynamo
    cannot resume after a break inside a ``try`` block; it then runs the frame holding the ``try``
    eagerly — this small one, not the caller that goes on to the losses.
    """
    try:
        return model(batch.question, batch.steering, state)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:  # a plugin bug: name the plugin
        if model_comp is None or isinstance(exc, JasperError):
            raise
        raise model_failure(exc, model_comp) from exc


def model_losses(model: torch.nn.Module, composer: torch.nn.Module, batch: ModelBatch, state: StepState,
                 targets: Callable[[], tuple[torch.Tensor, torch.Tensor]], autocast_dtype: torch.dtype | None,
                 aux_active: bool, model_comp: Any = None):
    """The model's forward and the losses. Returns ``(total, components, prediction)``.

    ``targets()`` gives the encoded source ``[B, D]`` and negatives ``[B, K, D]``; it is called after the
    model's forward. Both run under ``autocast_dtype`` (``None``: float32): the losses get float32 inputs, and
    autocast runs their matrix products (the in-batch similarities) in the lower precision.
    With ``model_comp`` (the recipe's model component) the model's output is checked first, so a
    plugin returning the wrong thing is named in one line instead of failing inside a loss.
    """
    with autocast(batch.question.device, autocast_dtype):
        prediction = run_model(model, batch, state, model_comp)
        if model_comp is not None:
            prediction = check_prediction(prediction, batch.question, model_comp)
        positive, negatives = targets()
        inputs = LossInputs(prediction=prediction.prediction.float(), positive=positive, negatives=negatives,
                            negative_tiers=batch.negative_tiers, cluster=batch.cluster, state=state,
                            explanation=prediction.explanation)
        total, parts = composer(inputs, aux_active=aux_active)
    return total.float(), parts, prediction


def forward_losses(setup: Setup, batch: "Batch | Rows", step: int, total_steps: int, aux_active: bool):
    """The batch gather (given :class:`Rows`), the target encoding, the model's forward and the losses:
    what ``train.compile`` compiles, as one graph. Returns ``(total, components, prediction)``.

    Under DDP (``setup.ddp``) the compiled step breaks at DDP's forward, and what it holds across the
    break is written out by the graph before and read by the graph after. So there the source and its
    negatives are encoded after the model's forward (the centroids the model reads, before it, in a call
    of their own), and given :class:`Rows` they are gathered again after it: their gather, encoding and
    losses then fuse as in one process, and only the model's inputs cross the break.
    """
    rows = batch if isinstance(batch, Rows) else None
    if rows is not None:  # labels written out: fused into the loss means they ran serially (materialize.py)
        batch = with_materialized_labels(setup.dataset.gather(rows.rows, rows.codes))
    if setup.ddp is None:
        state, positive, negatives = encode_targets(setup, batch, step, total_steps)
        model, targets = setup.model, lambda: (positive, negatives)
    else:  # DDP in a multi-process job (jasper_core.distributed)
        state = setup.step_state(step, total_steps, encode(setup, setup.dataset.centroids)[0])
        sources = batch if rows is None else None  # given rows, no gathered batch is held across the break

        def targets() -> tuple[torch.Tensor, torch.Tensor]:
            later = sources if rows is None else setup.dataset.gather(rows.rows, rows.codes)
            return encode(setup, later.source, later.negatives)

        model = setup.ddp
    return model_losses(model, setup.composer, ModelBatch.of(batch), state, targets, setup.autocast_dtype, aux_active,
                        setup.recipe.model)


def compute_losses(setup: Setup, batch: "Batch | Rows", *, step: int, total_steps: int, aux_active: bool = True):
    """Forward pass and losses (compiled when ``train.compile`` is on). Returns ``(total, components, prediction)``.

    A compiled step that raises is run again eagerly: if the eager step succeeds, the compiler was at
    fault, so the run goes on eagerly (one warning, ``jasper.train``); if it fails too, its error is the
    step's (plugin errors are named there).
    """
    if setup.compiled is None:
        return forward_losses(setup, batch, step, total_steps, aux_active)
    on_cuda = setup.device.type == "cuda"
    if on_cuda:
        torch.compiler.cudagraph_mark_step_begin()  # a new step: CUDA graphs (reduce-overhead) may reuse their buffers
    try:
        return setup.compiled(setup, batch, step, total_steps, aux_active)
    except Exception as exc:  # noqa: BLE001 - decided by the eager step below
        if on_cuda and torch.cuda.is_current_stream_capturing():
            raise  # inside train.cuda_graph's capture: the capture is lost; GraphedStep decides (graphed.py)
        out = forward_losses(setup, batch, step, total_steps, aux_active)  # raises the step's own error
        log.warning(f"train.compile failed at step {step} ({type(exc).__name__}: {first_line(exc)}); "
                    "the run continues eagerly (same results, slower)")
        setup.compiled = None
        return out


def trained_params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """The optimiser's parameters that have a gradient this step."""
    return [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]


def gradient_norm(params: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """The total L2 norm of the gradients of ``params`` (0-dim, on ``device``; 0 without any)."""
    if not params:
        return torch.zeros((), device=device)
    return torch.nn.utils.get_total_norm([p.grad for p in params], foreach=True)


def clip_to_norm(params: list[torch.Tensor], max_norm: float, norm: torch.Tensor) -> None:
    """Scale the gradients of ``params``, whose total norm is ``norm``, to at most ``max_norm`` (0: leave them),
    without reading the norm on the host."""
    if params and max_norm > 0:
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm, foreach=True)


def decide_update(params: list[torch.Tensor], max_norm: float, grad_norm: torch.Tensor, guard: NonFiniteGuard,
                  parts: tuple[torch.Tensor, ...], total: torch.Tensor,
                  count: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip the gradients (their total norm is ``grad_norm``) and decide the step, on the device:
    returns the watched values ``[N]`` (each loss component, the total, the gradient norm before
    clipping: the names of the last ``guard.watch``; all 0 where the step is skipped) and ``ok``
    (0-dim bool). Eagerly that is some
    thirty tiny kernels per step; :func:`check_update` runs it compiled under ``train.compile =
    "default"`` on a GPU (a handful). It is given the parameters, not the optimiser: compiled, it would
    otherwise depend on the learning rate's value."""
    clip_to_norm(params, max_norm, grad_norm)
    values = torch.stack([v.detach().to(total.device, torch.float32).reshape(()) for v in (*parts, total, grad_norm)])
    ok = guard.record(values, count)
    return torch.where(ok, values, 0.0), ok


def check_update(setup: Setup, parts: tuple[torch.Tensor, ...], total: torch.Tensor,
                 count: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradient norm (eager: one multi-tensor kernel, where inductor stacks the per-tensor norms
    one kernel each), then :func:`decide_update`, compiled where ``train.compile = "default"`` on a GPU
    (``setup.compiled_check``; see :func:`compiled_or_eager`)."""
    params = trained_params(setup.optimizer)
    args = (params, setup.recipe.optim.grad_clip, gradient_norm(params, total.device), setup.guard, parts, total, count)
    return compiled_or_eager(setup, "compiled_check", decide_update, args, "the gradient clipping and non-finite check")


def ema_update(target_space: torch.nn.Module, online_encoder: torch.nn.Module, decay: float | torch.Tensor,
               ok: torch.Tensor) -> None:
    """The EMA step of the target space towards ``online_encoder`` where ``ok``; compiled under
    ``train.compile = "default"`` on a GPU (``setup.compiled_ema``: one kernel for every tensor, where the
    eager step runs one per tensor and three for the weight)."""
    target_space.update(online_encoder, decay, ok)


def compile_errors() -> tuple[type[BaseException], ...]:
    """What a compiled part of the step raises before any of its kernels ran: dynamo's and the
    compiler's errors, and the assertions of dynamo's guard checks ("Guard failed on the same frame it
    was created"). (A function: importing dynamo costs a second, and only compiled runs need it.)"""
    from torch._dynamo.exc import TorchDynamoException

    return TorchDynamoException, AssertionError


def compiled_or_eager(setup: Setup, name: str, eager: Any, args: tuple, what: str) -> Any:
    """``eager(*args)`` through its compiled form ``setup.<name>`` where there is one.

    A compiled function that fails to compile (:func:`compile_errors`: raised before any of its
    kernels ran, so nothing it writes in place was written) is run again eagerly, and the rest of the
    run stays eager for it (one warning naming ``what``). Any other error is raised: these functions
    update gradients, the non-finite record and the target in place, and running them again after a
    partial run would apply an update twice. Inside a ``train.cuda_graph`` capture every error is raised.
    """
    compiled = getattr(setup, name)
    if compiled is None:
        return eager(*args)
    try:
        return compiled(*args)
    except compile_errors() as exc:
        if setup.device.type == "cuda" and torch.cuda.is_current_stream_capturing():
            raise  # the capture is lost; GraphedStep decides (graphed.py)
        out = eager(*args)
        log.warning(f"train.compile failed on {what} ({type(exc).__name__}: {first_line(exc)}); "
                    "it runs eagerly from now on (same results, slower)")
        setattr(setup, name, None)
        return out


def optimizer_step(optimizer: torch.optim.Optimizer, ok: torch.Tensor) -> None:
    """Apply the update where ``ok`` (0-dim bool): on the device for a fused optimiser, else after one host read."""
    if getattr(optimizer, "_step_supports_amp_scaling", False):
        optimizer.grad_scale, optimizer.found_inf = None, (~ok).float()
        try:
            optimizer.step()
        finally:
            del optimizer.grad_scale, optimizer.found_inf
    elif bool(ok):
        optimizer.step()


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's learning rate (filled in place where it is a device tensor, as under
    ``train.cuda_graph``, so that a captured step reads the new value)."""
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def schedules(setup: Setup, step: int, total_steps: int) -> tuple[float, float]:
    """The learning rate and the EMA decay of step ``step``, as host floats rounded to float32: a
    captured step (``train.cuda_graph``) reads both from float32 device tensors, and the eager step
    uses the same values, so the two give the same weights."""
    lr = setup.recipe.optim.lr * setup.lr_schedule(step, total_steps)
    return to_float32(lr), to_float32(setup.ema_decay(step, total_steps))


def to_float32(x: float) -> float:
    """``x`` rounded to the nearest float32 (a Python float)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def update(setup: Setup, batch: "Batch | Rows", *, step: int, total_steps: int, aux_active: bool,
           decay: float | torch.Tensor, count: int | torch.Tensor) -> tuple[tuple[str, ...], torch.Tensor, torch.Tensor]:
    """Forward, backward, clipping, the non-finite decision, the optimiser and the EMA: every device
    operation of a step after ``zero_grad``, and nothing that reads the host's clock or the device.

    ``decay`` (the EMA decay) and ``count`` (the step, 0-based, for the non-finite record) may be 0-dim
    device tensors: a captured step (``train.cuda_graph``) reads them from there. Returns the metric
    names, their values ``[N]`` (0 for a skipped step) and ``ok`` (0-dim bool: the update was applied).
    """
    setup.model.train()
    with record_function("jasper.forward"):
        total, parts, _ = compute_losses(setup, batch, step=step, total_steps=total_steps, aux_active=aux_active)
    with record_function("jasper.backward"):
        setup.scaler.scale(total).backward()
        setup.scaler.unscale_(setup.optimizer)
    setup.guard.watch([*parts, "total", GRAD_NORM])  # a term before the total: a non-finite step is reported by its term
    with record_function("jasper.check"):
        values, ok = check_update(setup, tuple(parts.values()), total, count)
    with record_function("jasper.optimizer"):
        optimizer_step(setup.optimizer, ok)
        setup.scaler.update()
    with record_function("jasper.ema"):
        if setup.model.online_encoder is not None:
            compiled_or_eager(setup, "compiled_ema", ema_update, (setup.target_space, setup.model.online_encoder, decay, ok),
                              "the EMA update")
    return (*parts, "loss", GRAD_NORM), values, ok


def train_step(setup: Setup, batch: "Batch | Rows", *, step: int, total_steps: int, aux_active: bool) -> StepResult:
    """Run optimiser step ``step`` (0-based global step before the update)."""
    lr, decay = schedules(setup, step, total_steps)
    set_lr(setup.optimizer, lr)
    setup.optimizer.zero_grad(set_to_none=True)
    count, decay_in = step, decay
    if setup.compiled_check is not None or setup.compiled_ema is not None:
        # the compiled check and EMA take the step and the decay as device tensors, as a captured step gives them (a
        # fill kernel each, no copy): given numbers, they would compile again for each value and for the capture
        count = torch.full((), step, dtype=torch.int64, device=setup.device)
        decay_in = torch.full((), decay, dtype=torch.float32, device=setup.device)
    names, values, ok = update(setup, batch, step=step, total_steps=total_steps, aux_active=aux_active,
                               decay=decay_in, count=count)
    return StepResult(names=names, values=values, scalars={"lr": lr, "ema_decay": decay}, taken=ok.float())


def train_rows(setup: Setup, rows: torch.Tensor, codes: torch.Tensor, *, step: int, total_steps: int,
               aux_active: bool) -> StepResult:
    """Train on the batch of pair indices ``rows [B]`` with steering codes ``codes [B]`` (gathered here,
    or inside the compiled step: :func:`step_batch`)."""
    return train_step(setup, step_batch(setup, rows, codes), step=step, total_steps=total_steps, aux_active=aux_active)
