"""The console logger on a terminal: progress bars, the collapse warning, and a run that did not complete."""

import io
import logging
from pathlib import Path

from rich.console import Console

from jasper_core import RunInfo
from jasper_core.testing import check_logger
from jasper_plugins.loggers.console import ConsoleLogger, ConsoleLoggerConfig


def terminal():
    return Console(file=io.StringIO(), force_terminal=True, width=160, color_system=None)


def run_info(tmp_path):
    return RunInfo(run_dir=Path(tmp_path), recipe={"eval": {"best_metric": "mrr", "best_variant": "zero"}},
                   recipe_name="r", epochs=2, steps_per_epoch=2, total_steps=4)


def test_console_logger__progress_bar_on_a_terminal_only(tmp_path):
    console = terminal()
    logger = ConsoleLogger(ConsoleLoggerConfig(), console=console)
    run = run_info(tmp_path)
    logger.jasper_epoch_start(run=run, epoch=1)
    assert logger.progress is not None  # a terminal gets a bar ...
    logger.jasper_step_end(run=run, step=2, metrics={"loss": 0.25})
    assert logger.progress.tasks[0].completed == 2 and logger.progress.tasks[0].fields["loss"] == "0.2500"
    logger.jasper_epoch_end(run=run, epoch=1, metrics={"loss": 0.25})
    assert logger.progress is None  # ... stopped at the epoch's end
    check_logger(ConsoleLogger(ConsoleLoggerConfig(), console=terminal()), tmp_path)  # a whole run of calls
    piped = ConsoleLogger(ConsoleLoggerConfig(), console=Console(file=io.StringIO()))
    piped.jasper_epoch_start(run=run, epoch=1)
    assert piped.progress is None  # not a terminal: no bar


def test_console_logger__status_lines_go_through_logging_with_an_eta(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="jasper.train")
    console = terminal()
    logger = ConsoleLogger(ConsoleLoggerConfig(progress=False, epoch_table=False), console=console)
    run = run_info(tmp_path)
    logger.jasper_run_start(run=run)
    logger.jasper_epoch_end(run=run, epoch=1, metrics={"loss": 1.0, "pairs_per_s": 1234.0})
    assert console.file.getvalue() == ""  # no table, no warning: status lines are log records
    logger.jasper_epoch_end(run=run, epoch=2, metrics={"health/collapse": 1.0, "health/std_ratio": 0.01,
                                                       "health/effective_rank": 1.2, "health/mean_cosine": 0.99})
    logger.jasper_run_end(run=run, status="interrupted", metrics=None)
    lines = [r.getMessage() for r in caplog.records if r.name == "jasper.train"]
    assert lines[0].startswith("training r → ") and "(2 epochs × 2 steps" in lines[0]
    assert lines[1].startswith("epoch 1/2: loss 1, 1,234 pairs/s, 0:00 elapsed, ETA 0:00")
    assert any("predictions look collapsed (std ratio 0.010, effective rank 1.2, mean cosine 0.990)" in m for m in lines)
    assert "run interrupted; checkpoints in" in lines[-1] and "written:" not in console.file.getvalue()
    assert [r.levelname for r in caplog.records if "collapsed" in r.getMessage()] == ["WARNING"]
