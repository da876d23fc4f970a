"""``train.cuda_graph``: the whole training step captured as one CUDA graph and replayed.

What is captured is everything a step does on the device — the batch gather from the dataset's
tables, the target encoding, the model, the losses, backward, clipping, the non-finite record, the
fused optimiser and the EMA — so a step costs the host a few small copies and one graph launch
instead of hundreds of kernel launches. The values that change from step to step are read by the
graph from device tensors filled before each replay: the batch's pair indices and steering codes,
the learning rate (the optimiser's groups hold it as a tensor, ``capturable``), the EMA decay and
the step number of the non-finite record.

The first step of each kind (auxiliary losses on or off) runs eagerly and watches whether the
model or a loss reads ``state.step`` (``step_reads.py``): a captured step would freeze that value,
so such a recipe (``subspace``: the router's temperature schedule) trains without the graph, with
one warning. So does a step that reads a tensor's value on the host (``.item()`` in a plugin: the
warning names the line), a loss that returns a logged figure as a Python number (a replay cannot
update it), a run whose capture fails (the reason in one line; the CUDA generator is put back as it
was before the capture, so the eager steps' dropout draws what an eager run draws), an optimiser without a fused kernel
(SGD) and a batch of another size (an incomplete last batch runs eagerly). With
``train.compile = "default"`` two more eager steps compile the forward before the capture.

The graph reads the dataset's tables by address. At each epoch's start (after the dataset's
``on_epoch_start``, which may reload hard negatives) the addresses of the tensors the dataset holds —
as attributes, or inside the lists, tuples, dicts and objects it holds, a few levels down — are
compared with the captured ones, and the step is captured again where one moved. Results equal the eager step's: the kernels
are the same, and dropout's random numbers come from the same generator offsets.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable

import torch

from jasper_core.errors import JasperError, first_line
from jasper_core.training.assemble import Setup
from jasper_core.training.step import StepResult, schedules, step_batch, train_rows, update
from jasper_core.training.step_reads import HostReads

log = logging.getLogger("jasper.train")

#: Eager steps before a capture: the watched step, plus two to compile the forward under ``train.compile``;
#: under DDP at least 12 (PyTorch's CUDA-graph notes ask for 11 eager DDP iterations before a capture).
WARMUP_EAGER, WARMUP_COMPILED, WARMUP_DDP = 1, 3, 12

#: The compiled parts of a step (``Setup`` attributes): the watched step runs without them.
COMPILED = ("compiled", "compiled_check", "compiled_ema")


def side_stream(device: torch.device) -> Any:
    """A context making a new CUDA stream current (a ``nullcontext`` off CUDA). Under
    ``train.cuda_graph`` the whole run — the DDP wrapper, the eager warm-up and the capture — works
    on this one stream: a step captured on another stream than its warm-up ran on (where autograd
    keeps the gradient accumulators' streams) may fail to capture under DDP."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    return torch.cuda.stream(torch.cuda.Stream(device))


class CudaGraphs:
    """Capture with ``torch.cuda.graph`` on the current device (the backend of :class:`GraphedStep`)."""

    def capture(self, fn: Callable[[], Any]) -> tuple[Any, Callable[[], None]]:
        """Capture ``fn``'s kernels and run them once; returns ``(fn's outputs, replay)``. The outputs
        are the graph's own tensors: each replay writes the new step's values into them."""
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        current = torch.cuda.current_stream()
        stream = None if current == torch.cuda.default_stream() else current  # the run's side stream (side_stream)
        generator = torch.cuda.default_generators[torch.cuda.current_device()]
        before = generator.clone_state()
        try:
            # thread_local: other threads (NCCL's watchdog in a multi-process job) may query the device meanwhile
            with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
                out = fn()
        except BaseException:
            # a failed capture leaves the generator in capture mode, and the next random op (dropout in the
            # eager step the run goes on with) fails: "Offset increment outside graph capture"
            generator.graphsafe_set_state(before)
            raise
        graph.replay()
        return out, graph.replay


def graphed_step(recipe: Any, device: torch.device) -> "GraphedStep | None":
    """The captured step for a run of ``recipe`` on ``device``: None unless ``train.cuda_graph`` is on,
    and None with one warning off CUDA (the run trains without it)."""
    if not recipe.train.cuda_graph:
        return None
    if device.type != "cuda":
        log.warning(f"train.cuda_graph needs a CUDA device and this run trains on {device.type}; training without it")
        return None
    return GraphedStep()


def make_capturable(optimizer: torch.optim.Optimizer, lr: torch.Tensor) -> None:
    """Let ``optimizer.step`` be captured: every group reads its learning rate from ``lr`` (0-dim, on
    the device) and is ``capturable`` (its step count stays on the device)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
        group["capturable"] = True


#: How deep :func:`table_addresses` looks into a dataset's attributes, and how many values it reads in all;
#: a list, tuple or dict longer than ``PLAIN_AFTER`` whose first value is a plain value (a text, a number)
#: is taken for plain data and not looked into.
TABLE_DEPTH, TABLE_VALUES, PLAIN_AFTER = 4, 100_000, 64
_SCALARS = (str, bytes, int, float, bool, complex, type(None))


def table_addresses(dataset: Any) -> tuple | None:
    """``(path, address, shape)`` of every tensor ``dataset`` holds: as an attribute, or inside lists,
    tuples, dicts and objects held by it, up to :data:`TABLE_DEPTH` levels down (``path`` names the
    attributes, keys and indices on the way; long lists of plain values such as texts are skipped).
    ``None`` — every epoch then captures again — for a dataset without attributes, or one holding
    more than :data:`TABLE_VALUES` values, too many to check."""
    if not hasattr(dataset, "__dict__"):
        return None
    found: list = []
    seen: set[int] = set()
    budget = [TABLE_VALUES]

    def walk(value: Any, path: tuple, depth: int) -> bool:  # False: too many values to check
        budget[0] -= 1
        if budget[0] < 0:
            return False
        if isinstance(value, torch.Tensor):
            found.append((path, value.data_ptr(), tuple(value.shape)))
            return True
        if isinstance(value, _SCALARS) or depth >= TABLE_DEPTH or id(value) in seen:
            return True
        seen.add(id(value))
        if isinstance(value, (dict, list, tuple)):
            first = next(iter(value.values() if isinstance(value, dict) else value), None)
            if len(value) > PLAIN_AFTER and isinstance(first, _SCALARS):
                return True  # plain data (texts, ids): not read item by item at every epoch
            items = value.items() if isinstance(value, dict) else enumerate(value)
        elif hasattr(value, "__dict__"):
            items = sorted(vars(value).items())
        else:
            return True
        return all(walk(v, (*path, k), depth + 1) for k, v in items)

    return tuple(found) if walk(dataset, (), 0) else None


class GraphedStep:
    """The training step as a captured CUDA graph (see the module docstring); call it like
    :func:`jasper_core.training.step.train_rows`.

    Args:
        backend: what captures (default :class:`CudaGraphs`; tests give one that runs on the CPU).
    """

    def __init__(self, backend: Any = None) -> None:
        self.backend = backend or CudaGraphs()
        self.disabled = ""  # why the run trains without the graph ("" while it does not)
        self._aux: bool | None = None  # aux_active of the steps that the warm-up count and the graph are for
        self._warm = 0
        self._replay: Callable[[], None] | None = None
        self._guard_version = -1
        self._out: tuple | None = None  # the captured step's outputs (names, values [N], taken): rewritten by each replay
        self._tables: tuple | None = None  # the dataset's tensor addresses at the capture (table_addresses)
        self.captures = 0

    def reset(self) -> None:
        """Drop the captured graph; the next full batch captures again."""
        self._replay = None
        self._out = None

    def epoch_start(self, dataset: Any) -> None:
        """Capture again when a table of ``dataset`` moved since the capture (see the module docstring)."""
        if self._replay is not None and (self._tables is None or table_addresses(dataset) != self._tables):
            self.reset()

    def _disable(self, reason: str) -> None:
        self.disabled = reason
        self.reset()
        log.warning(f"train.cuda_graph: {reason}; training continues without it (same results, slower)")

    def __call__(self, setup: Setup, rows: torch.Tensor, codes: torch.Tensor, *, step: int, total_steps: int,
                 aux_active: bool) -> StepResult:
        kw = dict(step=step, total_steps=total_steps, aux_active=aux_active)
        if self.disabled or rows.shape[0] != setup.recipe.train.batch_size:
            return train_rows(setup, rows, codes, **kw)
        if aux_active != self._aux:  # other loss terms: another step to warm up and capture
            self._aux, self._warm = aux_active, 0
            self.reset()
        if self._replay is not None and setup.guard.version == self._guard_version:
            return self._run(setup, rows, codes, step, total_steps)
        warmup = WARMUP_EAGER if setup.compiled is None else WARMUP_COMPILED
        if setup.ddp is not None:
            warmup = max(warmup, WARMUP_DDP)
        if self._warm < warmup:
            self._warm += 1
            return self._watched(setup, rows, codes, **kw) if self._warm == 1 else train_rows(setup, rows, codes, **kw)
        return self._capture(setup, rows, codes, **kw)

    def _watched(self, setup: Setup, rows: torch.Tensor, codes: torch.Tensor, **kw: Any) -> StepResult:
        """One eager (uncompiled) step that records whether anything reads ``state.step`` or reads a
        tensor's value on the host (``step_reads.py``); either turns the graph off."""
        if not getattr(setup.optimizer, "_step_supports_amp_scaling", False):
            self._disable(f'optim.type "{setup.recipe.optim.type}" has no fused kernel to capture (use "adam" or "adamw")')
            return train_rows(setup, rows, codes, **kw)
        compiled = {name: getattr(setup, name) for name in COMPILED}
        for name in COMPILED:
            setattr(setup, name, None)
        setup.watch = set()
        try:
            with HostReads() as host:
                result = train_rows(setup, rows, codes, **kw)
        finally:
            reads, setup.watch = setup.watch, None
            for name, fn in compiled.items():
                setattr(setup, name, fn)
        if reads:
            self._disable(f"{setup.recipe.model.type!r} or one of its losses reads state.step (a schedule inside "
                          "the forward), which a captured step would freeze")
        elif host.first is not None:
            op, where = host.first
            self._disable(f"the step reads a tensor's value on the host ({op}, e.g. .item() or float(tensor), at "
                          f"{where}), which a captured step cannot do")
        elif setup.composer.host_numbers:
            self._disable(f"the loss figure {setup.composer.host_numbers[0]!r} is a Python number, which a captured "
                          "step cannot update (return it as a tensor)")
        return result

    def _capture(self, setup: Setup, rows: torch.Tensor, codes: torch.Tensor, *, step: int, total_steps: int,
                 aux_active: bool) -> StepResult:
        lr, decay = schedules(setup, step, total_steps)
        device = setup.device
        self._rows, self._codes = rows.clone(), codes.clone()
        self._lr = torch.tensor(lr, dtype=torch.float32, device=device)
        self._decay = torch.tensor(decay, dtype=torch.float32, device=device)
        self._count = torch.tensor(step, dtype=torch.int64, device=device)
        make_capturable(setup.optimizer, self._lr)

        def one_step() -> tuple:
            setup.optimizer.zero_grad(set_to_none=True)  # the captured backward allocates the gradients it replays into
            batch = step_batch(setup, self._rows, self._codes)
            names, values, ok = update(setup, batch, step=step, total_steps=total_steps, aux_active=aux_active,
                                       decay=self._decay, count=self._count)
            return names, values, ok.float()

        try:
            (names, values, taken), self._replay = self.backend.capture(one_step)
        except Exception as exc:  # noqa: BLE001 - any capture failure: train on without the graph
            if setup.ddp is not None:  # a rank that goes on eagerly while others replay would hang the job
                raise JasperError(f"train.cuda_graph: capturing the step failed ({type(exc).__name__}: {first_line(exc)}); "
                                  "set train.cuda_graph = false for this job") from exc
            setup.optimizer.zero_grad(set_to_none=True)
            self._disable(f"capturing the step failed ({type(exc).__name__}: {first_line(exc)})")
            return train_rows(setup, rows, codes, step=step, total_steps=total_steps, aux_active=aux_active)
        self.captures += 1
        self._tables = table_addresses(setup.dataset)
        self._guard_version = setup.guard.version
        self._out = (names, values, taken)
        return self._result(lr, decay)

    def _run(self, setup: Setup, rows: torch.Tensor, codes: torch.Tensor, step: int, total_steps: int) -> StepResult:
        """Replay the captured step on this batch."""
        lr, decay = schedules(setup, step, total_steps)
        self._rows.copy_(rows)
        self._codes.copy_(codes)
        self._lr.fill_(lr)
        self._decay.fill_(decay)
        self._count.fill_(step)
        self._replay()
        return self._result(lr, decay)

    def _result(self, lr: float, decay: float) -> StepResult:
        """The latest step's metrics: the captured output tensors (rewritten by the next replay)."""
        names, values, taken = self._out
        return StepResult(names=names, values=values, scalars={"lr": lr, "ema_decay": decay}, taken=taken)
