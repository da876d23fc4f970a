"""The non-finite policy, decided on the device: no host read in the training step.

Each step names its watched values (:meth:`NonFiniteGuard.watch`, on the host), then hands
:meth:`NonFiniteGuard.record` the values ``[N]`` (every loss component, the total, the gradient
norm; device operations only, compiled with the step's tail under ``train.compile = "default"`` on a GPU)
and gets back one 0-dim bool ``ok``: the optimiser update and the
EMA step are applied only where it holds (a fused optimiser skips on ``found_inf``; see
``step.py``). What happened is kept on the device — how many steps were skipped, the first bad
step and its values — and read on the host once per logging point (every ``train.log_every`` steps
and at the end of each epoch, before any checkpoint is written): :meth:`NonFiniteGuard.read_later`
copies and clears the record behind the logged step, and the trainer waits for that copy once it has
launched the next step (:meth:`NonFiniteGuard.read` does both at once).

``train.nonfinite = "stop"``: once a watched value is non-finite, every later step is skipped
too, so the weights stay those before the first bad step until the read raises (at most
``log_every`` steps later). ``"skip"``: each bad step alone is skipped and counted; when the count
passes ``train.max_skipped_steps`` the read raises, after the step launched meanwhile was applied
(nothing is written after it). A non-finite
gradient norm under fp16 is a loss-scaler overflow: skipped and counted, never a stop.
"""

from __future__ import annotations

import math

import attrs
import torch

from jasper_core.distributed import all_ranks_true
from jasper_core.training.host_copy import HostCopy

GRAD_NORM = "grad_norm"


@attrs.frozen
class NonFiniteReport:
    """What the device recorded since the last read.

    Attributes:
        skipped: steps whose update was not applied.
        stopped: a watched value that stops training (policy ``stop``) was non-finite.
        last_ok: the most recent step's update was applied.
        message: the first non-finite value and its step (1-based), e.g.
            ``loss term 'infonce' is nan at step 812``; empty when nothing was non-finite.
    """

    skipped: int = 0
    stopped: bool = False
    last_ok: bool = True
    message: str = ""


def describe(name: str, value: float, step: int) -> str:
    """One line naming a non-finite value: ``loss term 'x' is nan at step 12`` (``is non-finite on
    another rank`` where this rank's own value was finite, in a multi-process job)."""
    what = "gradient norm" if name == GRAD_NORM else f"loss term {name!r}"
    return f"{what} is {value if not math.isfinite(value) else 'non-finite on another rank'} at step {step}"


class NonFiniteGuard:
    """On-device record of non-finite steps (see the module docstring).

    Args:
        device: where the record lives (the training device).
        policy: ``"stop"`` or ``"skip"`` (``train.nonfinite``).
        grad_norm_stops: a non-finite gradient norm counts as a stop (False under fp16 loss scaling).
    """

    def __init__(self, device: torch.device, policy: str, *, grad_norm_stops: bool = True) -> None:
        self.device = torch.device(device)
        self.policy = policy
        self.grad_norm_stops = grad_norm_stops
        self.names: tuple[str, ...] = ()
        self.version = 0  # counts re-allocations of the record (a captured step holds the record's addresses)
        self.pending = NonFiniteReport()  # a report taken early because the watched names changed
        self._stopped = torch.zeros((), dtype=torch.bool, device=self.device)
        self._allocate()

    def _allocate(self) -> None:
        self.version += 1
        self._skipped = torch.zeros((), dtype=torch.int64, device=self.device)
        self._first_step = torch.full((), -1, dtype=torch.int64, device=self.device)
        self._first_values = torch.zeros(len(self.names), dtype=torch.float32, device=self.device)
        self._first_finite = torch.ones(len(self.names), dtype=torch.bool, device=self.device)  # on every rank
        self._last_ok = torch.ones((), dtype=torch.bool, device=self.device)

    def _clear(self) -> None:
        """Start a new record in place (the tensors keep their addresses)."""
        self._skipped.zero_()
        self._first_step.fill_(-1)
        self._first_values.zero_()
        self._first_finite.fill_(True)
        self._last_ok.fill_(True)

    def watch(self, names: list[str]) -> None:
        """Name the values the next :meth:`record` calls get; a change of names takes the record so far
        (one host read) and starts a new one. Host-side only: called outside a compiled step."""
        if tuple(names) != self.names:
            if self.names:
                self.pending = self._take_later(self.pending).report()
            self.names = tuple(names)
            self._forgiven = torch.tensor([n == GRAD_NORM and not self.grad_norm_stops for n in names], device=self.device)
            self._allocate()

    def record(self, values: torch.Tensor, step: int | torch.Tensor) -> torch.Tensor:
        """Record step ``step`` (0-based; a 0-dim device tensor under ``train.cuda_graph``) with
        ``values [N]`` (named by the last :meth:`watch`); returns ``ok`` (0-dim bool).

        Device operations only (the record is updated in place: a captured step replays into the same
        tensors), so a compiled step can trace it.
        """
        finite = all_ranks_true(torch.isfinite(values))  # [N]; in a multi-process job every rank decides alike
        if self.policy == "stop":
            self._stopped.logical_or_(~(finite | self._forgiven).all())
        ok = finite.all() & ~self._stopped
        first = (self._first_step < 0) & ~finite.all()
        self._first_step.copy_(torch.where(first, step + 1, self._first_step))
        self._first_values.copy_(torch.where(first, values.float(), self._first_values))
        self._first_finite.copy_(torch.where(first, finite, self._first_finite))
        self._skipped.add_((~ok).long())
        self._last_ok.copy_(ok)
        return ok

    def _take_later(self, early: NonFiniteReport) -> PendingReport:
        """Queue the record's copy to the host and start a new record (device work only: no wait);
        ``early``: what was taken before, reported with it."""
        packed = torch.cat([torch.stack([self._skipped.double(), self._first_step.double(), self._last_ok.double(),
                                         self._stopped.double()]), self._first_values.double(),
                            self._first_finite.double()])
        copy = HostCopy(packed)  # one read, queued before the record is cleared
        self._clear()
        return PendingReport(copy, self.names, early)

    @staticmethod
    def _merge(early: NonFiniteReport, late: NonFiniteReport) -> NonFiniteReport:
        return NonFiniteReport(skipped=early.skipped + late.skipped, stopped=early.stopped or late.stopped,
                               last_ok=late.last_ok, message=early.message or late.message)

    def read(self) -> NonFiniteReport:
        """Everything recorded since the last read (one host read), and start a new record."""
        return self.read_later().report()

    def read_later(self) -> PendingReport:
        """:meth:`read` in two halves: the record is copied (queued behind the steps so far) and cleared
        now; :meth:`PendingReport.report` waits for that copy only, so the device can run the steps
        launched in between (the trainer launches the next step before it asks)."""
        early, self.pending = self.pending, NonFiniteReport()
        return self._take_later(early) if self.names else PendingReport(None, (), early)


@attrs.frozen
class PendingReport:
    """A non-finite record on its way to the host (:meth:`NonFiniteGuard.read_later`).

    Attributes:
        copy: the packed record (None: nothing was watched yet).
        names: the watched values the record is of.
        early: what was taken before (when the watched names changed), reported with it.
    """

    copy: HostCopy | None
    names: tuple[str, ...]
    early: NonFiniteReport

    def report(self) -> NonFiniteReport:
        """The record as a :class:`NonFiniteReport` (waits for its copy)."""
        if self.copy is None:
            return self.early
        packed = self.copy.get()
        skipped, first_step, last_ok, stopped = (float(x) for x in packed[:4])
        n = len(self.names)
        values, finite = packed[4:4 + n].tolist(), packed[4 + n:].tolist()
        message = ""
        if first_step >= 0:  # the first term some rank saw non-finite (this rank's own value may be finite)
            bad = next(i for i, ok in enumerate(finite) if not ok)
            message = describe(self.names[bad], values[bad], int(first_step))
        late = NonFiniteReport(skipped=int(skipped), stopped=bool(stopped), last_ok=bool(last_ok), message=message)
        return NonFiniteGuard._merge(self.early, late)
