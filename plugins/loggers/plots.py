"""PNG plots: loss components, steering-variant mix, retrieval metrics vs. baselines, per epoch."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import attrs

from jasper_core import validators
from jasper_core import STEERING_VARIANTS, hookimpl

warn = logging.getLogger("jasper.loggers").warning

NOT_LOSSES = ("lr", "tau", "grad_norm", "pairs_per_s", "epoch_seconds", "step", "skipped_total")


@attrs.frozen(kw_only=True)
class PlotLoggerConfig:
    directory: str = attrs.field(default="plots", validator=validators.run_file)
    metrics: tuple[str, ...] = ("mrr", "recall@1", "recall@10")


class PlotLogger:
    """Keeps a small history in ``plots/history.json`` and redraws the figures after each epoch."""

    def __init__(self, config: PlotLoggerConfig, *, run_dir: Path) -> None:
        self.config = config
        self.dir = Path(run_dir) / config.directory
        self.history: dict[str, Any] = {"epochs": [], "evals": []}
        self.stale = False  # figures behind the history

    @hookimpl
    def jasper_run_start(self, run):
        saved = self.dir / "history.json"
        if run.resumed and saved.exists():
            try:
                data = json.loads(saved.read_text(encoding="utf-8"))
                self.history = {
                    "epochs": [e for e in data.get("epochs", []) if e["epoch"] < run.start_epoch],
                    "evals": [e for e in data.get("evals", []) if e["epoch"] < run.start_epoch],
                }
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
                warn(f"{saved} is unreadable ({type(exc).__name__}); the plots restart from epoch {run.start_epoch}")

    @hookimpl
    def jasper_epoch_end(self, run, epoch, metrics):
        self.history["epochs"].append({"epoch": epoch, **{k: float(v) for k, v in metrics.items()}})
        self.stale = True

    @hookimpl
    def jasper_eval_end(self, run, epoch, split, results):
        self.history["evals"].append({"epoch": epoch, "split": split, "model": results.model, "baselines": results.baselines})
        self.draw()

    def save_history(self) -> None:
        """Write ``history.json`` atomically."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "history.json.tmp"
        tmp.write_text(json.dumps(self.history), encoding="utf-8")
        tmp.replace(self.dir / "history.json")

    def draw(self) -> list[Path]:
        """Write the three figures; returns their paths."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.save_history()
        self.stale = False
        written = []
        epochs = self.history["epochs"]
        if epochs:
            written.append(self._losses(plt, epochs))
            written.append(self._steering(plt, epochs))
        if self.history["evals"]:
            written.append(self._retrieval(plt, self.history["evals"]))
        return written

    def _losses(self, plt, epochs) -> Path:
        xs = [e["epoch"] for e in epochs]
        keys = sorted({k for e in epochs for k in e if k not in NOT_LOSSES and k != "epoch"
                       and not k.startswith(("steering/", "health/"))})
        terms = [k for k in keys if "/" not in k]
        parts = [k for k in keys if "/" in k]
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for k in terms:
            axes[0].plot(xs, [e.get(k, float("nan")) for e in epochs], marker="o", label=k, linewidth=2.5 if k == "loss" else 1.5)
        axes[0].set(title="loss terms (epoch mean; 'loss' = weighted total)", xlabel="epoch", ylabel="value")
        for k in parts:
            axes[1].plot(xs, [e.get(k, float("nan")) for e in epochs], marker=".", label=k)
        axes[1].set(title="loss components and accuracies", xlabel="epoch")
        for ax in axes:
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=8)
        return self._save(fig, plt, "loss_components.png")

    def _steering(self, plt, epochs) -> Path:
        xs = [e["epoch"] for e in epochs]
        ys = [[e.get(f"steering/{v}", 0.0) for e in epochs] for v in STEERING_VARIANTS]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.stackplot(xs, ys, labels=STEERING_VARIANTS, alpha=0.85)
        ax.set(title="steering variants drawn per epoch (curriculum)", xlabel="epoch", ylabel="share of training pairs", ylim=(0, 1))
        ax.legend(loc="upper right", fontsize=8)
        return self._save(fig, plt, "steering_mix.png")

    def _retrieval(self, plt, evals) -> Path:
        metrics = self.config.metrics
        fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.5), squeeze=False)
        xs = [e["epoch"] for e in evals]
        for ax, metric in zip(axes[0], metrics):
            for variant in evals[-1]["model"]:
                ax.plot(xs, [e["model"].get(variant, {}).get(metric, float("nan")) for e in evals], marker="o", label=f"model · {variant}")
            for base, style in (("question_cosine", "--"), ("cluster_filtered", ":")):
                ax.plot(xs, [e["baselines"][base].get(metric, float("nan")) for e in evals], style, color="black", label=base)
            ax.set(title=f"{metric} on {evals[-1]['split']} (epoch 0 = before training)", xlabel="epoch", ylabel=metric)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=8, framealpha=0.6)
        return self._save(fig, plt, "retrieval.png")

    def _save(self, fig, plt, name: str) -> Path:
        path = self.dir / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

    @hookimpl
    def jasper_run_end(self, run, status, metrics):
        if self.stale:
            self.draw()
        else:
            self.save_history()  # also rewrites a damaged history.json
