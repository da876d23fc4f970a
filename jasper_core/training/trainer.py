"""The training run: epochs of vectorised batches, evaluation, best-checkpoint tracking, logger hooks, resume."""

from __future__ import annotations

import functools
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from jasper_core.contracts import STEERING_VARIANTS, EvalResults, RunInfo
from jasper_core.errors import CheckpointError, NonFiniteLossError
from jasper_core.evaluation.evaluate import run_evaluation
from jasper_core.hookspecs import lifecycle
from jasper_core.recipe import Recipe, recipe_to_dict, recipe_to_toml
from jasper_core.training.assemble import Setup, assemble
from jasper_core.training.batches import epoch_batches, num_batches
from jasper_core.training.checkpoint import load_checkpoint
from jasper_core.training.health import prediction_health
from jasper_core.training.run_dir import RunDir, checkpoint_state, load_weights, restore_state
from jasper_core.training.step import train_step

log = logging.getLogger("jasper.loggers")
HOOK_NAMES = tuple(n for n in dir(lifecycle) if n.startswith("jasper_"))


def isolate(plugin: Any, label: str) -> None:
    """Make each lifecycle hook of ``plugin`` fail alone: the first exception is reported in one line
    (logging, ``jasper.loggers``) and the plugin is switched off for the rest of the run; training goes on."""
    failed: list[str] = []
    for name in HOOK_NAMES:
        method = getattr(plugin, name, None)
        if method is None or not callable(method):
            continue

        @functools.wraps(method)
        def call(*args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
            if failed:
                return None
            try:
                return _method(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a logger must never stop training
                failed.append(_name)
                first = (str(exc).strip().splitlines() or [""])[0]
                log.warning(f"{label} failed in {_name} ({type(exc).__name__}: {first}); it is switched off for this run")
                return None

        setattr(plugin, name, call)


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
        self.run_dir = RunDir(run_dir)
        self.recipe_name = recipe_name
        self.resume_from = self._resume_path(resume)
        self.loggers: list[Any] = []
        self.best: dict[str, Any] = {}
        self.skipped = 0

    # -- set-up ---------------------------------------------------------------------------
    def _resume_path(self, resume: str | None) -> Path | None:
        self._resume = resume
        return self.run_dir.resume_source(resume, recipe_to_toml(self.recipe))

    def _register_loggers(self) -> None:
        for comp in self.recipe.logger:
            logger = comp.build(self.plugins.registries, run_dir=self.run_dir.path)
            isolate(logger, f'logger "{comp.type}" ({comp.path}, from {comp.plugin})')
            self.plugins.manager.register(logger, name=f"logger:{comp.path}")
            self.loggers.append(logger)

    def _unregister_loggers(self) -> None:
        for logger in self.loggers:
            if self.plugins.manager.is_registered(logger):
                self.plugins.manager.unregister(logger)
        self.loggers = []

    def _restore(self, setup: Setup, gen: torch.Generator) -> tuple[int, int, dict]:
        ckpt = load_checkpoint(self.resume_from, map_location=setup.device)
        if ckpt["recipe"] != recipe_to_toml(self.recipe):
            raise CheckpointError(
                f"{self.resume_from}: the recipe differs from the one this run was started with; "
                "resume with the same recipe and --set overrides (the run's recipe.toml), or start a new --run-dir"
            )
        book = restore_state(setup, ckpt, gen, self.resume_from)
        # the best record stands only with its weights in this run directory's best.pt
        self.best = book["best"] if self.run_dir.checkpoint("best").exists() else {}
        self.skipped = book["skipped_steps"]
        return book["step"], book["epoch"], book["logger_state"]

    def _save(self, setup: Setup, step: int, epoch: int, gen: torch.Generator, metrics: dict, run: RunInfo, *,
              is_best: bool) -> None:
        state = checkpoint_state(setup, step=step, epoch=epoch, generator=gen, metrics=metrics, best=self.best,
                                 skipped_steps=self.skipped, logger_state=run.logger_state)
        train = self.recipe.train
        tags = self.run_dir.save(state, epoch=epoch, is_best=is_best, every=train.checkpoint_every, keep=train.keep_checkpoints)
        self.plugins.hook.jasper_checkpoint_saved(run=run, path=str(self.run_dir.checkpoint("last")), tags=tags)

    # -- the run --------------------------------------------------------------------------
    def fit(self) -> EvalResults:
        """Train, evaluate and checkpoint; returns the final evaluation (also in ``eval.json``).

        The run directory is locked for the whole run: a second process gets one clear line.
        """
        with self.run_dir.lock():
            self.resume_from = self._resume_path(self._resume)  # again: another process may have written here since
            return self._fit()

    def _fit(self) -> EvalResults:
        recipe = self.recipe
        setup = assemble(recipe, self.plugins.registries)
        gen = torch.Generator().manual_seed(recipe.train.seed)
        step, start_epoch, logger_state = 0, 0, {}
        if self.resume_from is not None:
            step, start_epoch, logger_state = self._restore(setup, gen)
        train_pairs = setup.dataset.split("train")
        spe = num_batches(int(train_pairs.shape[0]), recipe.train.batch_size, recipe.train.drop_last)
        total = spe * recipe.train.epochs
        self.run_dir.write_recipe(recipe_to_toml(recipe))
        run = RunInfo(run_dir=self.run_dir.path, recipe=recipe_to_dict(recipe), recipe_name=self.recipe_name,
                      epochs=recipe.train.epochs, steps_per_epoch=spe, total_steps=total, start_epoch=start_epoch + 1,
                      resumed=self.resume_from is not None, logger_state=logger_state, dataset=setup.dataset.describe())
        self._register_loggers()
        hook = self.plugins.hook
        status, final = "failed", None
        try:
            hook.jasper_run_start(run=run)
            if self.resume_from is None:  # the untrained model is a candidate for best.pt too
                results = self._evaluate(setup, recipe.eval.split, step, total)
                hook.jasper_eval_end(run=run, epoch=0, split=recipe.eval.split, results=results)
                self._save(setup, step, 0, gen, {"eval": results.to_dict()}, run, is_best=self._track_best(results, 0))
            for epoch in range(start_epoch + 1, recipe.train.epochs + 1):
                step = self._train_epoch(setup, run, gen, epoch, step, spe, total)
                metrics = {}
                is_best = False
                if epoch % recipe.eval.every == 0 or epoch == recipe.train.epochs:
                    results = self._evaluate(setup, recipe.eval.split, step, total)
                    hook.jasper_eval_end(run=run, epoch=epoch, split=recipe.eval.split, results=results)
                    is_best = self._track_best(results, epoch)
                    metrics = {"eval": results.to_dict()}
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

    def _track_best(self, results: EvalResults, epoch: int) -> bool:
        """Record ``results`` as the best so far when its ``eval.best_metric`` of ``eval.best_variant`` improves.

        A non-finite score (a model that emits NaN) is never best.
        """
        section = self.recipe.eval
        score = results.score(section.best_metric, section.best_variant)
        if not math.isfinite(score) or (self.best and score <= self.best["value"]):
            return False
        self.best = {"metric": section.best_metric, "variant": section.best_variant, "value": score, "epoch": epoch}
        return True

    def _train_epoch(self, setup: Setup, run: RunInfo, gen: torch.Generator, epoch: int, step: int, spe: int, total: int) -> int:
        recipe, hook = self.recipe, self.plugins.hook
        setup.dataset.on_epoch_start(epoch)
        hook.jasper_epoch_start(run=run, epoch=epoch)
        probs = setup.curriculum(step, total)
        sums: dict[str, torch.Tensor | float] = {}  # tensors stay on the device: read once, at the epoch's end
        counts: dict[str, int] = {}
        n_variants = len(STEERING_VARIANTS)
        variant_counts = torch.zeros(n_variants, device=setup.device)
        started, pairs_seen = time.perf_counter(), 0
        aux_active = epoch > recipe.train.aux_warmup_epochs
        train_pairs = setup.dataset.split("train")
        balance = setup.dataset.pair_cluster[train_pairs] if recipe.train.balanced_batches else None
        for batch in epoch_batches(setup.dataset, train_pairs, recipe.train.batch_size, generator=gen,
                                   variant_probs=probs, drop_last=recipe.train.drop_last, balance_by=balance):
            result = train_step(setup, batch, step=step, total_steps=total, aux_active=aux_active)
            step += 1
            pairs_seen += len(batch)
            variant_counts += torch.bincount(batch.steering_variant, minlength=n_variants)[:n_variants].float()
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
                hook.jasper_step_end(run=run, step=step, metrics={k: float(v) for k, v in result.metrics.items()})
        metrics = {k: float(sums[k]) / counts[k] for k in sums}  # waits for the device: the epoch is done
        mix = (variant_counts / variant_counts.sum().clamp_min(1)).cpu()
        elapsed = max(time.perf_counter() - started, 1e-9)
        metrics.update({f"steering/{name}": float(mix[i]) for i, name in enumerate(STEERING_VARIANTS)})
        metrics.update({"pairs_per_s": pairs_seen / elapsed, "epoch_seconds": elapsed, "step": float(step),
                        "skipped_total": float(self.skipped)})
        metrics.update({f"health/{k}": v for k, v in self._health(setup, step, total).items()})
        hook.jasper_epoch_end(run=run, epoch=epoch, metrics=metrics)
        return step

    @torch.no_grad()
    def _health(self, setup: Setup, step: int, total: int) -> dict[str, float]:
        pairs = setup.dataset.split("val")
        if pairs.numel() < 2:
            pairs = setup.dataset.split("train")
        pairs = pairs[:1024]
        was = setup.model.training
        setup.model.eval()
        q = setup.dataset.questions[setup.dataset.pair_question[pairs]]
        pred = setup.model(q, torch.zeros_like(q), setup.step_state(step, total)).prediction
        setup.model.train(was)
        return prediction_health(pred)

    def _evaluate(self, setup: Setup, split: str, step: int, total: int) -> EvalResults:
        with torch.no_grad():
            state = setup.step_state(step, total)
        return run_evaluation(setup.model, setup.target_space, setup.dataset, self.recipe, self.plugins.registries,
                              split, state)

    def _final_evaluation(self, setup: Setup) -> EvalResults:
        """Evaluate the best checkpoint (by validation) on ``eval.final_split``; write ``eval.json``."""
        best = self.run_dir.checkpoint("best")
        if best.exists():
            load_weights(setup, load_checkpoint(best, map_location=setup.device), best)
        results = run_evaluation(setup.model, setup.target_space, setup.dataset, self.recipe, self.plugins.registries,
                                 self.recipe.eval.final_split)
        results.checkpoint = "best" if best.exists() else "last"
        results.best = dict(self.best)
        self.run_dir.write_eval(results)
        return results
