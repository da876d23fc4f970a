"""The training run: epochs of vectorised batches, evaluation, best-checkpoint tracking, logger hooks, resume.

Under ``torchrun`` every rank runs this loop on its share of each batch (see ``batches.py``) with
the model wrapped in DDP; rank 0 alone takes the run-directory lock, runs the loggers and writes
the recipe, checkpoints and ``eval.json``. Decisions that must agree (resume or not, which
checkpoint) are taken on rank 0 and given to the others (docs/distributed.md).
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from pathlib import Path
from typing import Any

import attrs
import torch

from jasper_core import distributed
from jasper_core.contracts import STEERING_VARIANTS, EvalResults, RunInfo
from jasper_core.contracts.loss import GATHER, distributed_behaviour
from jasper_core.distributed import ddp
from jasper_core.errors import CheckpointError, NonFiniteLossError
from jasper_core.evaluation.evaluate import run_evaluation
from jasper_core.recipe import Recipe, recipe_to_dict, recipe_to_toml, same_run
from jasper_core.training.assemble import Setup, assemble, resolve_device
from jasper_core.training.batches import epoch_rows, num_batches, variant_mix
from jasper_core.training.checkpoint import load_checkpoint
from jasper_core.training.compiled import check_compile_mode
from jasper_core.training.graphed import graphed_step, side_stream
from jasper_core.training.health import prediction_health
from jasper_core.training.host_copy import HostCopy
from jasper_core.training.loggers import register_loggers, unregister_loggers
from jasper_core.training.nonfinite import PendingReport
from jasper_core.training.run_dir import RunDir
from jasper_core.training.run_state import checkpoint_state, load_weights, restore_state
from jasper_core.training.step import train_rows


@attrs.frozen
class LogRead:
    """What a logging point reads (the non-finite record and the step's metrics), on its way to the host:
    the trainer launches the next step before it waits for them (see ``host_copy.py``)."""

    step: int
    guard: PendingReport
    values: HostCopy  # [N] named by ``names``
    names: tuple[str, ...]
    scalars: dict[str, float]

    def metrics(self) -> dict[str, float]:
        """Every metric of the logged step as a float (waits for the copy)."""
        return {**dict(zip(self.names, self.values.get().tolist())), **self.scalars}


class Trainer:
    """Train a recipe into ``run_dir``.

    Args:
        recipe: the validated recipe.
        plugins: the loaded plugins (registries + hook relay).
        run_dir: where checkpoints, history, plots and ``eval.json`` go.
        resume: None (fresh run; the directory must not hold a run), ``"auto"`` (continue from
            ``checkpoints/last.pt`` when present) or a checkpoint path.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) constructing the trainer joins the job's process group;
    every rank must construct it and call :meth:`fit`.
    """

    def __init__(self, recipe: Recipe, plugins: Any, *, run_dir: str | Path, recipe_name: str = "recipe",
                 resume: str | None = None) -> None:
        self.recipe = recipe
        self.plugins = plugins
        self.run_dir = RunDir(run_dir)
        self.recipe_name = recipe_name
        requested = resolve_device(recipe.train.device)
        self.world = distributed.join(requested)
        self.device = distributed.device_for(requested, self.world)  # this rank's device (cuda:LOCAL_RANK under torchrun)
        self.resume_from = distributed.from_main(lambda: self._resume_path(resume), self.world)
        self.loggers: list[Any] = []
        self.best: dict[str, Any] = {}
        self.skipped = 0
        self.run_id = uuid.uuid4().hex  # this run's identity, kept by every checkpoint it writes (a resume takes the checkpoint's)

    # -- set-up ---------------------------------------------------------------------------
    def _resume_path(self, resume: str | None) -> Path | None:
        self._resume = resume
        return self.run_dir.resume_source(resume, recipe_to_toml(self.recipe), self.plugins.registries)

    def _register_loggers(self) -> None:
        if self.world.is_main:  # one console, one W&B run, one history: rank 0's
            self.loggers = register_loggers(self.recipe, self.plugins, self.run_dir.path)

    def _unregister_loggers(self) -> None:
        unregister_loggers(self.plugins, self.loggers)
        self.loggers = []

    def _restore(self, setup: Setup, gen: torch.Generator) -> tuple[int, int, dict]:
        ckpt = distributed.from_main(lambda: load_checkpoint(self.resume_from, map_location="cpu"), self.world)
        if not same_run(ckpt["recipe"], recipe_to_toml(self.recipe), self.plugins.registries):
            raise CheckpointError(
                f"{self.resume_from}: the recipe differs from the one this run was started with; "
                "resume with the same recipe and --set overrides (the run's recipe.toml), or start a new --run-dir"
            )
        book = restore_state(setup, ckpt, gen, self.resume_from)
        self.run_id = ckpt.get("run_id") or self.run_id  # checkpoints written before run identities have none
        # the best record stands only with its weights in this run directory's best.pt
        has_best = distributed.from_main(lambda: self._own_best() is not None, self.world)
        self.best = book["best"] if has_best else {}
        self.skipped = book["skipped_steps"]
        step = book["step"]
        if ckpt.get("world_size", 1) != self.world.size:  # another batch per step: continue at the same epoch
            step = book["epoch"] * self._steps_per_epoch(setup)
        return step, book["epoch"], book["logger_state"]

    def _own_best(self, map_location: str | torch.device = "cpu") -> dict | None:
        """This run's ``best.pt`` (None when there is none).

        Raises:
            CheckpointError: ``best.pt`` was written by another run (copied in by hand): its weights
                are not this run's best, and evaluating them would report another model.
        """
        best = self.run_dir.checkpoint("best")
        if not best.exists():
            return None
        ckpt = load_checkpoint(best, map_location=map_location)
        if ckpt.get("run_id") not in (None, self.run_id):
            raise CheckpointError(f"{best}: written by another run ({ckpt['run_id'][:12]}…, this run is {self.run_id[:12]}…); "
                                  "remove it or put this run's own best.pt back (nothing was changed)")
        return ckpt

    def _steps_per_epoch(self, setup: Setup) -> int:
        train = self.recipe.train
        return num_batches(int(setup.dataset.split("train").shape[0]), train.batch_size, train.drop_last, self.world.size)

    def _save(self, setup: Setup, step: int, epoch: int, gen: torch.Generator, metrics: dict, run: RunInfo, *,
              is_best: bool) -> None:
        if not self.world.is_main:
            return
        state = checkpoint_state(setup, step=step, epoch=epoch, generator=gen, metrics=metrics, best=self.best,
                                 skipped_steps=self.skipped, logger_state=run.logger_state)
        state["world_size"] = self.world.size
        state["run_id"] = self.run_id
        train = self.recipe.train
        tags = self.run_dir.save(state, epoch=epoch, is_best=is_best, every=train.checkpoint_every, keep=train.keep_checkpoints)
        self.plugins.hook.jasper_checkpoint_saved(run=run, path=str(self.run_dir.checkpoint("last")), tags=tags)

    # -- the run --------------------------------------------------------------------------
    def fit(self) -> EvalResults:
        """Train, evaluate and checkpoint; returns the final evaluation (also in ``eval.json``).

        The run directory is locked for the whole run (by rank 0): a second process gets one clear line.
        """
        with (self.run_dir.lock() if self.world.is_main else contextlib.nullcontext(),
              side_stream(self.device) if self.recipe.train.cuda_graph else contextlib.nullcontext()):
            # again, under the lock: another process may have written here since (rank 0 decides for all)
            self.resume_from = distributed.from_main(lambda: self._resume_path(self._resume), self.world)
            return self._fit()

    def _fit(self) -> EvalResults:
        recipe = self.recipe
        world = self.world
        check_compile_mode(recipe.train.compile, world)
        setup = assemble(recipe, self.plugins.registries, device=self.device)
        gen = torch.Generator().manual_seed(recipe.train.seed)
        step, start_epoch, logger_state = 0, 0, {}
        if self.resume_from is not None:
            step, start_epoch, logger_state = self._restore(setup, gen)
        setup.ddp = ddp.wrap(setup, world)  # after the target space was made from (and restored into) the bare model
        setup.graphed = graphed_step(recipe, setup.device)
        spe = self._steps_per_epoch(setup)
        total = spe * recipe.train.epochs
        if world.is_main:
            self.run_dir.write_recipe(recipe_to_toml(recipe))
        gathered = tuple(name for name in setup.composer.names
                         if distributed_behaviour(setup.composer.losses[name]) == GATHER)
        run = RunInfo(run_dir=self.run_dir.path, recipe=recipe_to_dict(recipe), recipe_name=self.recipe_name,
                      epochs=recipe.train.epochs, steps_per_epoch=spe, total_steps=total, start_epoch=start_epoch + 1,
                      resumed=self.resume_from is not None, logger_state=logger_state, dataset=setup.dataset.describe(),
                      world_size=world.size, rank=world.rank, batch_size=recipe.train.batch_size, gathered_losses=gathered)
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
        sums: dict[tuple[str, ...], torch.Tensor] = {}  # [N] per set of metric names, on the device: read at the epoch's end
        scalar_sums: dict[str, float] = {}
        taken, steps = 0.0, 0  # steps whose update was applied (a device tensor), all steps
        codes_seen: list[torch.Tensor] = []  # views of the epoch's codes: counted once, at the epoch's end
        started, pairs_seen = time.perf_counter(), 0
        aux_active = epoch > recipe.train.aux_warmup_epochs
        train_pairs = setup.dataset.split("train")
        balance = setup.dataset.pair_cluster[train_pairs] if recipe.train.balanced_batches else None
        stepper = train_rows if setup.graphed is None else setup.graphed
        if setup.graphed is not None:
            setup.graphed.epoch_start(setup.dataset)  # on_epoch_start may have replaced the tables the captured step reads
        pending: LogRead | None = None
        for rows, codes in epoch_rows(train_pairs, recipe.train.batch_size, generator=gen, variant_probs=probs,
                                      drop_last=recipe.train.drop_last, balance_by=balance,
                                      world_size=self.world.size, rank=self.world.rank,
                                      agree=distributed.broadcast_from_main if self.world.distributed else None):
            try:
                result = stepper(setup, rows, codes, step=step, total_steps=total, aux_active=aux_active)
            except BaseException:
                if pending is not None:  # the logged step's record first, as it came before this step
                    self._log_read(pending, run)
                raise
            step += 1
            pairs_seen += len(rows)
            codes_seen.append(codes)
            # a captured step rewrites its output tensors at every replay: the first is copied, not kept
            sums[result.names] = result.values + sums[result.names] if result.names in sums else result.values.clone()
            for k, v in result.scalars.items():
                scalar_sums[k] = scalar_sums.get(k, 0.0) + v
            taken, steps = taken + result.taken, steps + 1
            if pending is not None:  # the last logging point's read, taken now that this step is queued behind it
                self._log_read(pending, run)
                pending = None
            if step % recipe.train.log_every == 0 or step % spe == 0:
                pending = LogRead(step, setup.guard.read_later(), HostCopy(result.values), result.names, result.scalars)
        if pending is not None:
            self._log_read(pending, run)
        n_taken = max(float(taken), 1.0)  # waits for the device: the epoch is done
        means = {k: v / steps for k, v in scalar_sums.items()}
        for names, total_values in sums.items():
            means.update({k: v / n_taken for k, v in zip(names, total_values.tolist())})
        metrics = self._over_ranks(setup, means)
        mix = variant_mix(codes_seen)
        elapsed = max(time.perf_counter() - started, 1e-9)
        metrics.update({f"steering/{name}": float(mix[i]) for i, name in enumerate(STEERING_VARIANTS)})
        metrics.update({"pairs_per_s": pairs_seen * self.world.size / elapsed, "epoch_seconds": elapsed,
                        "step": float(step), "skipped_total": float(self.skipped)})
        if self.world.distributed:
            metrics["pairs_per_s_per_device"] = pairs_seen / elapsed
        metrics.update({f"health/{k}": v for k, v in self._health(setup, step, total).items()})
        hook.jasper_epoch_end(run=run, epoch=epoch, metrics=metrics)
        return step

    def _over_ranks(self, setup: Setup, means: dict[str, float]) -> dict[str, float]:
        """The epoch's means of the step metrics, averaged over ranks (every rank has the same keys)."""
        if not (self.world.distributed and means):
            return means
        keys = sorted(means)
        values = torch.tensor([means[k] for k in keys], dtype=torch.float64, device=setup.device)
        return dict(zip(keys, distributed.mean_over_ranks(values).tolist()))

    def _log_read(self, read: LogRead, run: RunInfo) -> None:
        """Apply ``train.nonfinite`` to the record read at a logging point, then give the loggers that
        step's metrics (when its update was applied)."""
        report = read.guard.report()
        if report.skipped:
            self.skipped += report.skipped
            limit = self.recipe.train.max_skipped_steps
            if report.stopped:
                raise NonFiniteLossError(f'{report.message}; stopping (train.nonfinite = "stop"); the last good checkpoint is kept')
            if self.skipped > limit:
                raise NonFiniteLossError(f"{report.message}; more than {limit} steps skipped, stopping")
            self.plugins.hook.jasper_step_end(run=run, step=read.step, metrics={"skipped": float(report.skipped),
                                                                               "skipped_total": float(self.skipped)})
        if report.last_ok:
            self.plugins.hook.jasper_step_end(run=run, step=read.step, metrics=read.metrics())

    @torch.no_grad()
    def _health(self, setup: Setup, step: int, total: int) -> dict[str, float]:
        pairs = setup.dataset.split("val")
        if pairs.numel() < 2:
            pairs = setup.dataset.split("train")
        pairs = pairs[:1024]
        was = setup.model.training
        setup.model.eval()
        q = setup.dataset.gather(pairs, torch.zeros_like(pairs)).question  # [n, D]: these rows only, not the whole table upcast
        pred = setup.model(q, torch.zeros_like(q), setup.step_state(step, total)).prediction
        setup.model.train(was)
        return prediction_health(pred)

    def _evaluate(self, setup: Setup, split: str, step: int, total: int) -> EvalResults:
        with torch.no_grad():
            state = setup.step_state(step, total)
        return run_evaluation(setup.model, setup.target_space, setup.dataset, self.recipe, self.plugins.registries,
                              split, state, world=self.world)

    def _final_evaluation(self, setup: Setup) -> EvalResults:
        """Evaluate the best checkpoint (by validation) on ``eval.final_split``; write ``eval.json``."""
        best = self.run_dir.checkpoint("best")

        def load_best() -> bool:  # rank 0 reads it; the others get its weights below
            ckpt = self._own_best(map_location=setup.device)
            if ckpt is not None:
                load_weights(setup, ckpt, best)
            return ckpt is not None

        has_best = distributed.from_main(load_best, self.world)
        distributed.broadcast_module(setup.model, self.world)
        distributed.broadcast_module(setup.target_space, self.world)
        results = run_evaluation(setup.model, setup.target_space, setup.dataset, self.recipe, self.plugins.registries,
                                 self.recipe.eval.final_split, world=self.world)
        results.checkpoint = "best" if has_best else "last"
        results.best = dict(self.best)
        if self.world.is_main:
            self.run_dir.write_eval(results)
        return results
