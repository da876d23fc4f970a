"""The non-finite policy decided on the device: skip/stop without a host read per step."""

import math

import torch

from jasper_core.training.nonfinite import GRAD_NORM, NonFiniteGuard

NAMES = ["jepa", "total", GRAD_NORM]
NAN = float("nan")


def observe(guard, names, values, step):
    """One step as the training step hands it to the guard: the names, then the values."""
    guard.watch(names)
    return guard.record(values, step)


def observe_all(guard, rows, names=NAMES):
    return [bool(observe(guard, names, torch.tensor(r), step)) for step, r in enumerate(rows)]


def test_nonfinite_guard__stop_skips_every_later_step_and_names_the_first():
    guard = NonFiniteGuard("cpu", "stop")
    oks = observe_all(guard, [[1.0, 1.0, 1.0], [NAN, NAN, NAN], [1.0, 1.0, 1.0], [float("inf"), 1.0, 1.0]])
    assert oks == [True, False, False, False]  # sticky: the weights stay those before the bad step
    report = guard.read()
    assert (report.skipped, report.stopped, report.last_ok) == (3, True, False)
    assert report.message == "loss term 'jepa' is nan at step 2"


def test_nonfinite_guard__skip_skips_only_bad_steps_and_restarts_after_a_read():
    guard = NonFiniteGuard("cpu", "skip")
    assert observe_all(guard, [[1.0, 1.0, NAN], [1.0, 1.0, 1.0]]) == [False, True]
    report = guard.read()
    assert (report.skipped, report.stopped, report.last_ok) == (1, False, True)
    assert report.message == "gradient norm is nan at step 1"
    assert guard.read().skipped == 0 and guard.read().message == ""


def test_nonfinite_guard__fp16_overflow_of_the_grad_norm_is_a_skip_not_a_stop():
    guard = NonFiniteGuard("cpu", "stop", grad_norm_stops=False)
    assert observe_all(guard, [[1.0, 1.0, math.inf], [1.0, 1.0, 1.0]]) == [False, True]
    report = guard.read()
    assert report.skipped == 1 and not report.stopped


def test_nonfinite_guard__changed_names_keep_the_earlier_record():
    guard = NonFiniteGuard("cpu", "skip")
    observe_all(guard, [[NAN, 1.0, 1.0]])
    assert bool(observe(guard, ["jepa", "infonce", "total", GRAD_NORM], torch.tensor([1.0, 1.0, 1.0, 1.0]), 1))
    report = guard.read()
    assert report.skipped == 1 and report.message == "loss term 'jepa' is nan at step 1" and report.last_ok


def test_nonfinite_guard__a_value_non_finite_only_on_another_rank_is_named_without_a_value(monkeypatch):
    """In a multi-process job every rank skips a step another rank saw non-finite; this rank's own values are
    finite, and the report names the term another rank saw (reading it raised StopIteration)."""
    import jasper_core.training.nonfinite as nonfinite

    monkeypatch.setattr(nonfinite, "all_ranks_true", lambda flags: flags & torch.tensor([True, False, False]))
    guard = NonFiniteGuard("cpu", "skip")
    assert observe_all(guard, [[1.0, 2.0, 3.0]]) == [False]
    report = guard.read()
    assert report.skipped == 1 and report.message == "loss term 'total' is non-finite on another rank at step 1"


def test_nonfinite_guard__read_later_takes_the_record_so_far_and_leaves_later_steps_to_the_next_read():
    """The trainer launches the next step before it waits for a logging point's read: that step belongs to
    the next read, not to this one, and is not lost when the record is cleared."""
    guard = NonFiniteGuard("cpu", "skip")
    observe_all(guard, [[NAN, 1.0, 1.0]])
    pending = guard.read_later()
    assert bool(observe(guard, NAMES, torch.tensor([1.0, NAN, 1.0]), 1)) is False  # the step launched meanwhile
    first = pending.report()
    assert (first.skipped, first.last_ok, first.message) == (1, False, "loss term 'jepa' is nan at step 1")
    second = guard.read()
    assert (second.skipped, second.last_ok, second.message) == (1, False, "loss term 'total' is nan at step 2")


def test_nonfinite_guard__read_later_keeps_what_a_change_of_names_took_early():
    guard = NonFiniteGuard("cpu", "skip")
    observe_all(guard, [[NAN, 1.0, 1.0]])
    observe(guard, ["jepa", GRAD_NORM], torch.tensor([1.0, 1.0]), 1)  # new names: the record so far is taken
    report = guard.read_later().report()
    assert report.skipped == 1 and report.message == "loss term 'jepa' is nan at step 1" and report.last_ok
    assert guard.read() == type(report)()  # nothing twice
