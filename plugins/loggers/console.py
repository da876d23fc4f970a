"""Console logger: a progress bar per epoch, an epoch summary table, evaluation tables."""

from __future__ import annotations

from typing import Any, Mapping

import attrs
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from jasper_core import hookimpl
from jasper_core.console import make_console
from jasper_core.evaluation.report import eval_table, routing_summary, verdict


@attrs.frozen(kw_only=True)
class ConsoleLoggerConfig:
    progress: bool = True
    epoch_table: bool = True


class ConsoleLogger:
    """Prints what a person watching the run wants to see (to stderr for bars, stdout for tables)."""

    def __init__(self, config: ConsoleLoggerConfig, *, run_dir: Any = None, console: Console | None = None) -> None:
        self.config = config
        self.console = console or make_console()
        self.progress: Progress | None = None
        self.task = None

    @hookimpl
    def jasper_run_start(self, run):
        what = "resuming" if run.resumed else "training"
        self.console.print(f"[bold]{what}[/] {escape(run.recipe_name)} → {escape(str(run.run_dir))}  "
                           f"({run.epochs} epochs × {run.steps_per_epoch} steps; data {escape(str(run.dataset.get('path', '?')))})")
        if run.world_size > 1:
            gathered = ", ".join(run.gathered_losses) or "none"
            self.console.print(f"{run.world_size} processes × batch {run.batch_size} per device = global batch "
                               f"{run.global_batch_size}; losses gathering from every rank: {gathered}")

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
        if self.config.epoch_table:
            table = Table(title=f"epoch {epoch}/{run.epochs}", title_justify="left", show_header=False, box=None)
            table.add_column(style="cyan")
            table.add_column(justify="right")
            for key in sorted(metrics):
                table.add_row(key, f"{metrics[key]:.4g}")
            self.console.print(table)
        if metrics.get("health/collapse"):
            self.console.print(
                f"[bold yellow]warning:[/] predictions look collapsed (std ratio {metrics.get('health/std_ratio', 0):.3f}, "
                f"effective rank {metrics.get('health/effective_rank', 0):.1f}, mean cosine {metrics.get('health/mean_cosine', 0):.3f}); "
                "raise the infonce/vicreg weights or lower the learning rate"
            )

    @hookimpl
    def jasper_eval_end(self, run, epoch, split, results):
        metric = run.recipe["eval"]["best_metric"]
        parts = [f"{v} {m[metric]:.3f}" for v, m in results.model.items() if metric in m]
        bases = [f"{b} {m[metric]:.3f}" for b, m in results.baselines.items() if metric in m]
        self.console.print(f"[bold]eval[/] {split} epoch {epoch}: {metric} model " + ", ".join(parts)
                           + (" | " + ", ".join(bases) if bases else ""))

    @hookimpl
    def jasper_checkpoint_saved(self, run, path, tags):
        if "best" in tags:
            self.console.print(f"[green]saved[/] best checkpoint ({', '.join(tags)})")

    @hookimpl
    def jasper_run_end(self, run, status, metrics):
        self._stop_progress()
        if status != "completed":
            self.console.print(f"[bold red]run {status}[/]; checkpoints in {escape(str(run.run_dir / 'checkpoints'))}")
            return
        if metrics:
            section = run.recipe["eval"]
            self.console.print(eval_table(metrics))
            self.console.print(verdict(metrics, section["best_metric"], section["best_variant"]), soft_wrap=True)
            if routing_summary(metrics):
                self.console.print(routing_summary(metrics), soft_wrap=True)
            self.console.print(f"written: {run.run_dir / 'eval.json'}", markup=False)
