"""JSON-lines and CSV history loggers."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import attrs

from jasper_core import validators
from jasper_core import hookimpl

warn = logging.getLogger("jasper.loggers").warning


@attrs.frozen(kw_only=True)
class JsonlLoggerConfig:
    filename: str = attrs.field(default="history.jsonl", validator=validators.run_file)
    steps: bool = True


class JsonlLogger:
    """Appends one JSON object per step, epoch, evaluation and checkpoint to ``history.jsonl``."""

    def __init__(self, config: JsonlLoggerConfig, *, run_dir: Path) -> None:
        self.config = config
        self.path = Path(run_dir) / config.filename

    def _write(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    @hookimpl
    def jasper_run_start(self, run):
        self._write({"event": "run_start", "resumed": run.resumed, "start_epoch": run.start_epoch,
                     "total_steps": run.total_steps, "world_size": run.world_size,
                     "batch_size": run.batch_size, "global_batch_size": run.global_batch_size})

    @hookimpl
    def jasper_step_end(self, run, step, metrics):
        if self.config.steps:
            self._write({"event": "step", "step": step, **metrics})

    @hookimpl
    def jasper_epoch_end(self, run, epoch, metrics):
        self._write({"event": "epoch", "epoch": epoch, **metrics})

    @hookimpl
    def jasper_eval_end(self, run, epoch, split, results):
        self._write({"event": "eval", "epoch": epoch, "split": split, **results.flat()})

    @hookimpl
    def jasper_run_end(self, run, status, metrics):
        self._write({"event": "run_end", "status": status, **(metrics.flat() if metrics else {})})


def _epoch(row: dict[str, Any]) -> int | None:
    """The row's epoch, or None when it is missing or not a number (a damaged file)."""
    try:
        return int(float(row.get("epoch") or ""))
    except (TypeError, ValueError):
        return None


@attrs.frozen(kw_only=True)
class CsvLoggerConfig:
    filename: str = attrs.field(default="history.csv", validator=validators.run_file)


class CsvLogger:
    """One row per epoch (training metrics plus that epoch's evaluation) in ``history.csv``."""

    def __init__(self, config: CsvLoggerConfig, *, run_dir: Path) -> None:
        self.path = Path(run_dir) / config.filename
        self.rows: list[dict[str, Any]] = []
        self.pending: dict[int, dict[str, Any]] = {}

    @hookimpl
    def jasper_run_start(self, run):
        if run.resumed and self.path.exists():
            with self.path.open(newline="", encoding="utf-8", errors="replace") as fh:
                rows = list(csv.DictReader(fh))
            self.rows = [r for r in rows if _epoch(r) is not None and _epoch(r) < run.start_epoch]
            if len(self.rows) < sum(1 for r in rows if _epoch(r) is None or _epoch(r) < run.start_epoch):
                warn(f"{self.path}: rows without a readable epoch were dropped")

    @hookimpl
    def jasper_epoch_end(self, run, epoch, metrics):
        self.pending[epoch] = {"epoch": epoch, **metrics}

    @hookimpl
    def jasper_eval_end(self, run, epoch, split, results):
        row = self.pending.pop(epoch, {"epoch": epoch})
        row.update({f"{split}/{k}": v for k, v in results.flat().items()})
        self.rows.append(row)
        self._flush()

    def _flush(self) -> None:
        columns: list[str] = []
        for row in self.rows:
            columns.extend(k for k in row if k not in columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(self.path)

    @hookimpl
    def jasper_run_end(self, run, status, metrics):
        for epoch in sorted(self.pending):
            self.rows.append(self.pending.pop(epoch))
        if self.rows:
            self._flush()
