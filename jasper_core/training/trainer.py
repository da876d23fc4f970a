"""The training run: epochs of vectorised batches, evaluation, checkpoints, logger hooks, resume."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from jasper_core.batch import STEERING_VARIANTS
from jasper_core.data import epoch_batches, num_batches
from jasper_core.errors import CheckpointError, JasperError, NonFiniteLossError
from jasper_core.evaluation.context import run_evaluation
from jasper_core.recipe import Recipe, recipe_to_dict, recipe_to_toml
from jasper_core.training.assemble import Setup, assemble
from jasper_core.training.checkpoint import FORMAT, VERSION, atomic_save, load_checkpoint, prune_periodic
from jasper_core.training.health import prediction_health
from jasper_core.training.run_info import RunInfo
from jasper_core.training.step import train_step

CHECKPOINT_DIR = "checkpoints"


def primary_score(results: dict[str, Any], metric: str, variant: str) -> float:
    return float(results["model"][variant][metric])


class Trainer:
    """Train a recipe into ``run_dir``.

    Args:
        recipe: the validated recipe.
        plugins: the loaded plugins (registries + hook relay).
        run_dir: where checkpoints, history, plots and ``eval.json`` go.
        resume: None (fresh run; the directory must not hold a run), ``"auto"`` (continue from
            ``checkpoints/last.pt`` when present) or a checkpoint path.
    """

    def __init__(self, recipe: Recipe, plugins: Any, *, run_dir: str | Path, recipe_name: str = "recipe",
                 resume: str | None = None) -> None:
        self.recipe = recipe
        self.plugins = plugins
        self.run_dir = Path(run_dir)
        self.recipe_name = recipe_name
        self.resume_from = self._resume_path(resume)
        self.loggers: list[Any] = []

    # -- set-up ---------------------------------------------------------------------------
    def _resume_path(self, resume: str | None) -> Path | None:
        last = self.run_dir / CHECKPOINT_DIR / "last.pt"
        if resume is None:
            if self.run_dir.exists() and any(self.run_dir.iterdir()):
                raise JasperError(
                    f"{self.run_dir} already holds a run; pass --resume auto to continue it, or choose another --run-dir"
                )
            return None
        if resume == "auto":
            return last if last.exists() else None
        path = Path(resume)
        if not path.exists():
            raise CheckpointError(f"{path}: checkpoint not found")
        return path

    def _register_loggers(self) -> None:
        for comp in self.recipe.logger:
            logger = comp.build(self.plugins.registries, run_dir=self.run_dir)
            self.plugins.manager.register(logger, name=f"logger:{comp.path}")
            self.loggers.append(logger)

    def _unregister_loggers(self) -> None:
        for logger in self.loggers:
            if self.plugins.manager.is_registered(logger):
                self.plugins.manager.unregister(logger)
        self.loggers = []

    # -- checkpoints ----------------------------------------------------------------------
    def _state(self, setup: Setup, step: int, epoch: int, gen: torch.Generator, metrics: dict, run: RunInfo) -> dict:
        return {
            "format": FORMAT, "version": VERSION, "jasper_version": _version(),
            "model": setup.model.state_dict(), "target": setup.target.state_dict(),
            "composer": setup.composer.state_dict(), "optimizer": setup.optimizer.state_dict(),
            "scaler": setup.scaler.state_dict(), "step": step, "epoch": epoch,
            "rng": {"torch": torch.get_rng_state(), "batches": gen.get_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
            "recipe": recipe_to_toml(self.recipe), "metrics": json.loads(json.dumps(metrics)),
            "best": dict(self.best), "skipped_steps": self.skipped, "logger_state": dict(run.logger_state),
            "dataset": {"dim": setup.dataset.dim, "num_clusters": setup.dataset.num_clusters,
                        "cluster_names": list(setup.dataset.cluster_names)},
        }

    def _restore(self, setup: Setup, gen: torch.Generator) -> tuple[int, int, dict]:
        ckpt = load_checkpoint(self.resume_from, map_location=setup.device)
        if ckpt["recipe"] != recipe_to_toml(self.recipe):
            raise CheckpointError(
                f"{self.resume_from}: the recipe differs from the one this run was started with; "
                "resume with the same recipe and --set overrides (the run's recipe.toml), or start a new --run-dir"
            )
        setup.model.load_state_dict(ckpt["model"])
        setup.target.load_state_dict(ckpt["target"])
        setup.composer.load_state_dict(ckpt.get("composer", {}))
        setup.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            setup.scaler.load_state_dict(ckpt["scaler"])
        rng = ckpt["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        gen.set_state(rng["batches"].cpu())
        if rng.get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
        self.best = dict(ckpt.get("best", {}))
        self.skipped = int(ckpt.get("skipped_steps", 0))
        return int(ckpt["step"]), int(ckpt["epoch"]), dict(ckpt.get("logger_state", {}))

    def _save(self, setup, step, epoch, gen, metrics, run, *, is_best: bool) -> None:
        directory = self.run_dir / CHECKPOINT_DIR
        state = self._state(setup, step, epoch, gen, metrics, run)
        atomic_save(state, directory / "last.pt")
        tags = ["last"]
        if is_best:
            atomic_save(state, directory / "best.pt")
            tags.append("best")
        every = self.recipe.train.checkpoint_every
        if every and epoch % every == 0:
            atomic_save(state, directory / f"epoch-{epoch}.pt")
            prune_periodic(directory, self.recipe.train.keep_checkpoints)
            tags.append("epoch")
        self.plugins.hook.jasper_checkpoint_saved(run=run, path=str(directory / "last.pt"), tags=tuple(tags))

    # -- the run --------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train, evaluate and checkpoint; returns the final evaluation (also in ``eval.json``)."""
        recipe = self.recipe
        setup = assemble(recipe, self.plugins.registries)
        gen = torch.Generator().manual_seed(recipe.train.seed)
        self.best: dict[str, Any] = {}
        self.skipped = 0
        step, start_epoch, logger_state = 0, 0, {}
        if self.resume_from is not None:
            step, start_epoch, logger_state = self._restore(setup, gen)
        train_pairs = setup.dataset.split("train")
        spe = num_batches(int(train_pairs.shape[0]), recipe.train.batch_size, recipe.train.drop_last)
        total = spe * recipe.train.epochs
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "recipe.toml").write_text(recipe_to_toml(recipe), encoding="utf-8")
        describe = getattr(setup.dataset, "describe", lambda: {})
        run = RunInfo(run_dir=self.run_dir, recipe=recipe_to_dict(recipe), recipe_name=self.recipe_name,
                      epochs=recipe.train.epochs, steps_per_epoch=spe, total_steps=total, start_epoch=start_epoch + 1,
                      resumed=self.resume_from is not None, logger_state=logger_state, dataset=describe())
        self._register_loggers()
        hook = self.plugins.hook
        status, final = "failed", {}
        try:
            hook.jasper_run_start(run=run)
            if self.resume_from is None:
                results = self._evaluate(setup, recipe.eval.split)
                hook.jasper_eval_end(run=run, epoch=0, split=recipe.eval.split, results=results)
            for epoch in range(start_epoch + 1, recipe.train.epochs + 1):
                step = self._train_epoch(setup, run, gen, epoch, step, spe, total)
                metrics = {}
                is_best = False
                if epoch % recipe.eval.every == 0 or epoch == recipe.train.epochs:
                    results = self._evaluate(setup, recipe.eval.split)
                    hook.jasper_eval_end(run=run, epoch=epoch, split=recipe.eval.split, results=results)
                    score = primary_score(results, recipe.eval.best_metric, recipe.eval.best_variant)
                    is_best = not self.best or score > self.best["value"]
                    if is_best:
                        self.best = {"metric": recipe.eval.best_metric, "variant": recipe.eval.best_variant,
                                     "value": score, "epoch": epoch}
                    metrics = {"eval": results}
                self._save(setup, step, epoch, gen, metrics, run, is_best=is_best)
            final = self._final_evaluation(setup)
            status = "completed"
            return final
        except NonFiniteLossError:
            status = "stopped"
            raise
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            try:
                hook.jasper_run_end(run=run, status=status, metrics=final)
            finally:
                self._unregister_loggers()

    def _train_epoch(self, setup: Setup, run: RunInfo, gen: torch.Generator, epoch: int, step: int, spe: int, total: int) -> int:
        recipe, hook = self.recipe, self.plugins.hook
        setup.dataset.on_epoch_start(epoch)
        hook.jasper_epoch_start(run=run, epoch=epoch)
        probs = setup.curriculum(step, total)
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        variant_counts = torch.zeros(4)
        started, pairs_seen = time.perf_counter(), 0
        aux_active = epoch > recipe.train.aux_warmup_epochs
        train_pairs = setup.dataset.split("train")
        balance = setup.dataset.pair_cluster[train_pairs] if recipe.routing.balanced_batches else None
        for batch in epoch_batches(setup.dataset, train_pairs, recipe.train.batch_size, generator=gen,
                                   variant_probs=probs, drop_last=recipe.train.drop_last, balance_by=balance):
            result = train_step(setup, batch, step=step, total_steps=total, aux_active=aux_active)
            step += 1
            pairs_seen += len(batch)
            variant_counts += torch.bincount(batch.steering_variant.cpu(), minlength=4)[:4].float()
            if result.skipped:
                self.skipped += 1
                if self.skipped > recipe.train.max_skipped_steps:
                    raise NonFiniteLossError(f"{result.bad_term}; more than {recipe.train.max_skipped_steps} steps skipped, stopping")
                hook.jasper_step_end(run=run, step=step, metrics={"skipped": 1.0, "skipped_total": float(self.skipped)})
                continue
            for k, v in result.metrics.items():
                sums[k] = sums.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + 1
            if step % recipe.train.log_every == 0 or step % spe == 0:
                hook.jasper_step_end(run=run, step=step, metrics=result.metrics)
        elapsed = max(time.perf_counter() - started, 1e-9)
        metrics = {k: sums[k] / counts[k] for k in sums}
        mix = variant_counts / variant_counts.sum().clamp_min(1)

        metrics.update({f"steering/{name}": float(mix[i]) for i, name in enumerate(STEERING_VARIANTS)})
        metrics.update({"pairs_per_s": pairs_seen / elapsed, "epoch_seconds": elapsed, "step": float(step),
                        "skipped_total": float(self.skipped)})
        metrics.update({f"health/{k}": v for k, v in self._health(setup).items()})
        hook.jasper_epoch_end(run=run, epoch=epoch, metrics=metrics)
        return step

    @torch.no_grad()
    def _health(self, setup: Setup) -> dict[str, float]:
        pairs = setup.dataset.split("val")
        if pairs.numel() < 2:
            pairs = setup.dataset.split("train")
        pairs = pairs[:1024]
        was = setup.model.training
        setup.model.eval()
        q = setup.dataset.questions[setup.dataset.pair_question[pairs]]
        pred = setup.model(q, torch.zeros_like(q)).prediction
        setup.model.train(was)
        return prediction_health(pred)

    def _evaluate(self, setup: Setup, split: str) -> dict[str, Any]:
        return run_evaluation(setup.model, setup.target, setup.dataset, self.recipe, self.plugins.registries, split)

    def _final_evaluation(self, setup: Setup) -> dict[str, Any]:
        """Evaluate the best checkpoint (by validation) on ``eval.final_split``; write ``eval.json``."""
        best = self.run_dir / CHECKPOINT_DIR / "best.pt"
        if best.exists():
            ckpt = load_checkpoint(best, map_location=setup.device)
            setup.model.load_state_dict(ckpt["model"])
            setup.target.load_state_dict(ckpt["target"])
        results = self._evaluate(setup, self.recipe.eval.final_split)
        results["checkpoint"] = "best" if best.exists() else "last"
        results["best"] = dict(self.best)
        (self.run_dir / "eval.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
        return results


def _version() -> str:
    from jasper_core import __version__

    return __version__
