"""Progress lines for long work: throttled, with an ETA, and a last line when done; plain log records."""

import logging

import jasper_core.progress as progress
from jasper_core.progress import Progress, duration


def test_progress__throttled_lines_with_eta_then_done(monkeypatch, caplog):
    clock = iter([0.0, 1.0, 6.0, 7.0, 20.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    with caplog.at_level(logging.INFO, logger="jasper.test"):
        p = Progress(logging.getLogger("jasper.test"), "embedding texts", 100, every=5.0)
        for done in (10, 30, 40, 100):  # at 1 s (too soon), 6 s, 7 s (too soon), 20 s
            p.update(done)
    assert [r.getMessage() for r in caplog.records] == [
        "embedding texts: 30/100 (30%), 6 s, ETA 14 s", "embedding texts: 100 done in 20 s"]


def test_duration__seconds_minutes_hours():
    assert [duration(s) for s in (42, 210, 7200)] == ["42 s", "3.5 min", "2.0 h"]
