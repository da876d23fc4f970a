"""Weights & Biases logger: offline unless an API key is configured; scalars only; resumable."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Literal

import attrs

from jasper_core import hookimpl


def _scalars(prefix: str, values: dict[str, Any]) -> dict[str, float]:
    return {f"{prefix}{k}": float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _flat_config(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out.update(_flat_config(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float, str, bool)):
            out[f"{prefix}{k}"] = v
    return out


@attrs.frozen(kw_only=True)
class WandbLoggerConfig:
    project: str = "jasper"
    mode: Literal["auto", "offline", "online", "disabled"] = "auto"
    name: str = ""


class WandbLogger:
    """Logs step, epoch and evaluation scalars; the run id lives in the checkpoint for resume."""

    def __init__(self, config: WandbLoggerConfig, *, run_dir: Path) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.run = None

    def _mode(self) -> str:
        if self.config.mode != "auto":
            return self.config.mode
        return "online" if os.environ.get("WANDB_API_KEY") else "offline"

    @hookimpl
    def jasper_run_start(self, run):
        try:
            import wandb
        except ImportError:
            raise ValueError("logger \"wandb\" needs the wandb package; pip install 'jasper-retrieval[wandb]'") from None
        run_id = run.logger_state.get("wandb_run_id") or uuid.uuid4().hex[:8]
        run.logger_state["wandb_run_id"] = run_id
        self.run = wandb.init(project=self.config.project, id=run_id, resume="allow", dir=str(self.run_dir),
                              mode=self._mode(), name=self.config.name or None, config=_flat_config(run.recipe),
                              settings=wandb.Settings(silent=True, console="off"))

    @hookimpl
    def jasper_step_end(self, run, step, metrics):
        if self.run is not None:
            self.run.log(_scalars("train/", metrics), step=step)

    @hookimpl
    def jasper_epoch_end(self, run, epoch, metrics):
        if self.run is not None:
            self.run.log({**_scalars("epoch/", metrics), "epoch": epoch}, step=int(metrics.get("step", 0)) or None)

    @hookimpl
    def jasper_eval_end(self, run, epoch, split, results):
        if self.run is not None:
            self.run.log({f"{split}/{k}": v for k, v in results.flat().items()} | {"epoch": epoch})

    @hookimpl
    def jasper_run_end(self, run, status, metrics):
        if self.run is not None:
            if metrics:
                self.run.summary.update({f"final/{k}": v for k, v in metrics.flat().items()})
            self.run.finish(exit_code=0 if status == "completed" else 1)
            self.run = None
