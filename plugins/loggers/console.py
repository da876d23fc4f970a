"""Console logger: a progress bar per epoch (on a terminal), an epoch summary table, evaluation tables.

Status lines — the run's start, one ``epoch k/N … ETA`` line per epoch, evaluations, saved
checkpoints, warnings, a run that did not complete — go through the standard ``logging`` module
(logger ``jasper.train``), so ``-q`` quiets them and a library user can redirect them; the tables are
the run's output and go to the console (stdout).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping

import attrs
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from jasper_core import hookimpl
from jasper_core.console import make_console
from jasper_core.evaluation.report import eval_table, routing_summary, verdict


@attrs.frozen(kw_only=True)
class ConsoleLoggerConfig:
    progress: bool = True
    epoch_table: bool = True


log = logging.getLogger("jasper.train")


def _duration(seconds: float) -> str:
    """``"1:02:03"`` / ``"2:03"``."""
    seconds = max(int(round(seconds)), 0)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ConsoleLogger:
    """Prints what a person watching the run wants to see (to stderr for bars, stdout for tables)."""

    def __init__(self, config: ConsoleLoggerConfig, *, run_dir: Any = None, console: Console | None = None) -> None:
        self.config = config
        self.console = console or make_console()
        self.progress: Progress | None = None
        self.task = None
        self.started = time.perf_counter()
        self.epochs_timed = 0  # epochs finished in this process (a resumed run counts from its resume)

    @hookimpl
    def jasper_run_start(self, run):
        self.started, self.epochs_timed = time.perf_counter(), 0
        what = "resuming" if run.resumed else "training"
        log.info("%s %s → %s (%d epochs × %d steps; data %s)", what, run.recipe_name, run.run_dir, run.epochs,
                 run.steps_per_epoch, run.dataset.get("path", "?"))
        if run.world_size > 1:
            gathered = ", ".join(run.gathered_losses) or "none"
            log.info("%d processes × batch %d per device = global batch %d; losses gathering from every rank: %s",
                     run.world_size, run.batch_size, run.global_batch_size, gathered)

    @hookimpl
    def jasper_epoch_start(self, run, epoch):
        if not (self.config.progress and self.console.is_terminal):
            return
        self.progress = Progress(TextColumn(f"epoch {epoch}/{run.epochs}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(),
                                 console=self.console, transient=True)
        self.progress.start()
        self.task = self.progress.add_task("train", total=run.steps_per_epoch, loss="…")

    @hookimpl
    def jasper_step_end(self, run, step, metrics):
        if self.progress is not None:
            done = step - (step - 1) // run.steps_per_epoch * run.steps_per_epoch
            self.progress.update(self.task, completed=done, loss=f"{metrics.get('loss', float('nan')):.4f}")

    def _stop_progress(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    @hookimpl
    def jasper_epoch_end(self, run, epoch, metrics: Mapping[str, float]):
        self._stop_progress()
        self.epochs_timed += 1
        elapsed = time.perf_counter() - self.started
        left = max(run.epochs - epoch, 0) * elapsed / self.epochs_timed
        log.info("epoch %d/%d: loss %.4g, %s pairs/s, %s elapsed, ETA %s", epoch, run.epochs,
                 metrics.get("loss", float("nan")), f"{metrics.get('pairs_per_s', float('nan')):,.0f}",
                 _duration(elapsed), _duration(left))
        if self.config.epoch_table:
            table = Table(title=f"epoch {epoch}/{run.epochs}", title_justify="left", show_header=False, box=None)
            table.add_column(style="cyan")
            table.add_column(justify="right")
            for key in sorted(metrics):
                table.add_row(key, f"{metrics[key]:.4g}")
            self.console.print(table)
        if metrics.get("health/collapse"):
            log.warning("predictions look collapsed (std ratio %.3f, effective rank %.1f, mean cosine %.3f); "
                        "raise the infonce/vicreg weights or lower the learning rate", metrics.get("health/std_ratio", 0),
                        metrics.get("health/effective_rank", 0), metrics.get("health/mean_cosine", 0))

    @hookimpl
    def jasper_eval_end(self, run, epoch, split, results):
        metric = run.recipe["eval"]["best_metric"]
        parts = [f"{v} {m[metric]:.3f}" for v, m in results.model.items() if metric in m]
        bases = [f"{b} {m[metric]:.3f}" for b, m in results.baselines.items() if metric in m]
        log.info("eval %s epoch %s: %s model %s%s", split, epoch, metric, ", ".join(parts),
                 " | " + ", ".join(bases) if bases else "")

    @hookimpl
    def jasper_checkpoint_saved(self, run, path, tags):
        if "best" in tags:
            log.info("saved best checkpoint (%s)", ", ".join(tags))

    @hookimpl
    def jasper_run_end(self, run, status, metrics):
        self._stop_progress()
        if status != "completed":
            log.error("run %s; checkpoints in %s", status, run.run_dir / "checkpoints")
            return
        if metrics:
            section = run.recipe["eval"]
            self.console.print(eval_table(metrics))
            self.console.print(verdict(metrics, section["best_metric"], section["best_variant"]), soft_wrap=True)
            if routing_summary(metrics):
                self.console.print(routing_summary(metrics), soft_wrap=True)
            self.console.print(f"written: {run.run_dir / 'eval.json'}", markup=False)
