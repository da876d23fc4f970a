"""The run directory: its layout, the checkpoint state it keeps, and loading a trained model back.

Layout::

    RUN_DIR/recipe.toml            the resolved recipe
    RUN_DIR/checkpoints/last.pt    after every epoch
    RUN_DIR/checkpoints/best.pt    the best epoch by eval.best_metric on eval.split
    RUN_DIR/checkpoints/epoch-N.pt every train.checkpoint_every epochs (the newest keep_checkpoints kept)
    RUN_DIR/eval.json              the final evaluation (best checkpoint on eval.final_split)
    RUN_DIR/eval-<split>.json      written by ``jasper eval``
    RUN_DIR/.lock                  while a training process writes here: its pid, host and start

Loggers own the files they write (``history.jsonl``, ``plots/``, ...) under the directory.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any, Iterator, Literal

import torch

from jasper_core.contracts import EvalResults
from jasper_core.errors import CheckpointError, DatasetError, JasperError, first_line
from jasper_core.recipe import recipe_from_text, recipe_to_toml, same_run
from jasper_core.recipe.overrides import set_override
from jasper_core.training.assemble import Setup, assemble
from jasper_core.training.checkpoint import (
    FORMAT,
    VERSION,
    atomic_save,
    atomic_write_text,
    load_checkpoint,
    write_failure,
)
from jasper_core.training.run_lock import hold

Which = Literal["best", "last"]
_PERIODIC = re.compile(r"epoch-(\d+)\.pt")


class RunDir:
    """One training run's directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def recipe_file(self) -> Path:
        return self.path / "recipe.toml"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, which: Which) -> Path:
        """``checkpoints/best.pt`` or ``checkpoints/last.pt``."""
        return self.checkpoints / f"{which}.pt"

    def periodic(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch-{epoch}.pt"

    def eval_file(self, split: str | None = None) -> Path:
        """``eval.json`` (the final evaluation) or ``eval-<split>.json`` (``jasper eval``)."""
        return self.path / ("eval.json" if split is None else f"eval-{split}.json")

    def holds_run(self) -> bool:
        """True when the directory exists and holds anything but a lock file."""
        return self.path.is_dir() and any(p.name != ".lock" for p in self.path.iterdir())

    def resume_source(self, resume: str | None, recipe_text: str) -> Path | None:
        """The checkpoint a training into this directory starts from (None: from scratch), by the rules:

        - no ``resume``: the directory must not hold a run;
        - ``"auto"``: its ``checkpoints/last.pt``; without one, from scratch only when the directory
          holds nothing of value (empty, or this recipe's run killed before its first checkpoint);
        - a checkpoint or run directory: its last checkpoint, continued here only when this is its own
          run directory or holds nothing of value (never over another run's checkpoints).

        Raises:
            JasperError: one line; nothing was changed.
            CheckpointError: the given checkpoint does not exist.
        """
        empty = not self.holds_run() or self.killed_before_first_checkpoint(recipe_text)
        if resume is None:
            if not self.holds_run():
                return None
            raise JasperError(f"{self.path} already holds a run; pass --resume auto to continue it, or choose another --run-dir")
        if resume == "auto":
            if self.checkpoint("last").exists():
                return self.checkpoint("last")
            if empty:
                return None
            raise JasperError(f"{self.path} holds files but no checkpoints/last.pt to resume from; "
                              "choose another --run-dir (nothing was changed)")
        source = RunDir.find_checkpoint(resume, "last")
        if RunDir.of_checkpoint(source).path.resolve() != self.path.resolve() and not empty:
            raise JasperError(f"{self.path} already holds another run; continuing {source} there would replace its "
                              "checkpoints: choose an empty --run-dir (nothing was changed)")
        return source

    def killed_before_first_checkpoint(self, recipe_text: str) -> bool:
        """True when the directory holds only the start of a run of this very recipe (``recipe.toml``
        equal to ``recipe_text``) that was stopped before it wrote any checkpoint or evaluation file:
        nothing of value is there, so ``--resume auto`` starts that run again."""
        try:
            same = same_run(self.recipe_file.read_text(encoding="utf-8"), recipe_text)
        except (OSError, ValueError):
            return False
        written = [p for p in self.checkpoints.glob("*.pt")] if self.checkpoints.is_dir() else []
        return same and not written and not any(self.path.glob("eval*.json"))

    def remove_temporaries(self) -> None:
        """Delete the temporary files a killed writer left (``.<name>.<random>.tmp``, see ``atomic_write``)."""
        for folder in (self.path, self.checkpoints):
            for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
                tmp.unlink(missing_ok=True)

    @classmethod
    def of_checkpoint(cls, checkpoint: Path) -> "RunDir":
        """The run directory a checkpoint file belongs to (its folder, or the folder above ``checkpoints/``)."""
        folder = checkpoint.parent
        return cls(folder.parent if folder.name == "checkpoints" else folder)

    @staticmethod
    def find_checkpoint(path: str | Path, prefer: Which) -> Path:
        """A checkpoint file, or a run directory's ``prefer`` checkpoint (the other one if it is missing).

        Raises:
            CheckpointError: nothing to load there.
        """
        p = Path(path)
        if not p.is_dir():
            if not p.is_file():
                raise CheckpointError(f"{p}: checkpoint not found")
            return p
        run = RunDir(p)
        for which in (prefer, "last" if prefer == "best" else "best"):
            if run.checkpoint(which).is_file():
                return run.checkpoint(which)
        raise CheckpointError(f"{p}: no checkpoints/best.pt or checkpoints/last.pt in this directory")

    @property
    def lock_file(self) -> Path:
        return self.path / ".lock"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the directory for one writer (see :mod:`.run_lock`); temporaries a killed writer left
        are removed once it is held.

        Raises:
            JasperError: the path is a file, or another live process (or another host) holds it.
            WriteError: the lock cannot be written.
        """
        self.ensure_writable()
        with hold(self.lock_file, owner=self.path, on_taken=self.remove_temporaries):
            yield

    # -- writing ----------------------------------------------------------------------------
    def ensure_writable(self) -> None:
        """Create the directory if needed.

        Raises:
            JasperError: the path (or its ``checkpoints``) is a file, or the directory cannot be
                created (one line).
        """
        for folder in (self.path, self.checkpoints):
            if folder.exists() and not folder.is_dir():
                raise JasperError(f"{folder}: is a file, not a directory; choose another --run-dir")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_failure(Path(exc.filename or self.path), exc) from None

    def write_recipe(self, text: str) -> None:
        atomic_write_text(self.recipe_file, text)

    def check_output(self, path: Path) -> None:
        """Refuse, before any work, an output path that is a directory, a checkpoint, the run's
        recipe, or anything under ``checkpoints/``.

        Raises:
            JasperError: one line naming the path.
        """
        resolved = path.resolve()
        if path.is_dir():
            raise JasperError(f"{path}: is a directory; give a file name for the JSON output")
        if path.suffix == ".pt" or resolved == self.recipe_file.resolve() or self.checkpoints.resolve() in resolved.parents:
            raise JasperError(f"{path}: refusing to overwrite a checkpoint or the run's recipe; choose another --out")

    def write_eval(self, results: EvalResults, path: Path | None = None) -> Path:
        """Write ``results`` as JSON to ``path`` (default ``eval.json``).

        Raises:
            JasperError: the file cannot be written (one line naming it).
        """
        out = path or self.eval_file()
        self.check_output(out)
        atomic_write_text(out, json.dumps(results.to_dict(), indent=2))
        return out

    def read_eval(self, split: str | None = None) -> dict[str, Any] | None:
        """The JSON of ``eval.json`` (or ``eval-<split>.json``), or None when there is none.

        Raises:
            JasperError: the file is damaged (one line naming it and how to write it again).
        """
        path = self.eval_file(split)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise JasperError(f"{path}: damaged ({type(exc).__name__}); write it again with "
                              + ("--resume auto on the finished run" if split is None else "jasper eval") + ", or delete it") from None
        if not isinstance(data, dict):
            raise JasperError(f"{path}: damaged (not a JSON object); write it again, or delete it")
        return data

    def save(self, state: dict[str, Any], *, epoch: int, is_best: bool, every: int, keep: int) -> tuple[str, ...]:
        """Write ``best`` (when it is), then ``last``, then the periodic one, each atomically; returns
        the tags written. ``best`` goes first: a kill between the two writes leaves ``last`` one epoch
        behind (that epoch is trained again, bit for bit) rather than ``best`` stale."""
        tags = []
        if is_best:
            atomic_save(state, self.checkpoint("best"))
            tags.append("best")
        atomic_save(state, self.checkpoint("last"))
        tags.insert(0, "last")
        if every and epoch > 0 and epoch % every == 0:
            atomic_save(state, self.periodic(epoch))
            self.prune(keep)
            tags.append("epoch")
        return tuple(tags)

    def prune(self, keep: int) -> None:
        """Keep the newest ``keep`` periodic checkpoints (only files named ``epoch-<N>.pt``)."""
        found = [(int(m.group(1)), p) for p in self.checkpoints.glob("epoch-*.pt") if (m := _PERIODIC.fullmatch(p.name))]
        found.sort()
        for _, old in found[:-keep] if keep > 0 else found:
            old.unlink(missing_ok=True)


# -- the checkpoint state -------------------------------------------------------------------------
def checkpoint_state(setup: Setup, *, step: int, epoch: int, generator: torch.Generator, metrics: dict[str, Any],
                     best: dict[str, Any], skipped_steps: int, logger_state: dict[str, Any]) -> dict[str, Any]:
    """Everything a checkpoint holds (the keys :func:`restore_state` reads back)."""
    from jasper_core import __version__

    ds = setup.dataset
    return {
        "format": FORMAT, "version": VERSION, "jasper_version": __version__,
        "model": setup.model.state_dict(), "target": setup.target_space.state_dict(),
        "composer": setup.composer.state_dict(), "optimizer": setup.optimizer.state_dict(),
        "scaler": setup.scaler.state_dict(), "step": step, "epoch": epoch,
        "rng": {"torch": torch.get_rng_state(), "batches": generator.get_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        "recipe": recipe_to_toml(setup.recipe), "metrics": json.loads(json.dumps(metrics)),
        "best": dict(best), "skipped_steps": skipped_steps, "logger_state": dict(logger_state),
        "dataset": {**_dataset_record(ds), "path": _dataset_path(ds)},
    }


def _dataset_record(ds: Any) -> dict[str, Any]:
    """What a checkpoint records of its data and :func:`load_trained` checks against the data it is given."""
    return {"dim": ds.dim, "num_clusters": ds.num_clusters, "cluster_names": list(ds.cluster_names),
            "embedding_model": (ds.meta or {}).get("model_name")}


def _dataset_path(ds: Any) -> str | None:
    """The dataset's directory, absolute (found again by :func:`load_trained` from any working directory)."""
    path = ds.describe().get("path")
    return str(Path(path).resolve()) if path else None


def load_weights(setup: Setup, ckpt: dict[str, Any], path: Path | str = "checkpoint") -> None:
    """Put a checkpoint's model and target-space weights into ``setup``.

    Raises:
        CheckpointError: a parameter is missing, unexpected or of another shape (one line naming the
            first such parameter and how many there are).
    """
    for part, module in (("model", setup.model), ("target", setup.target_space)):
        try:
            module.load_state_dict(ckpt[part])
        except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
            details = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()] or [str(exc).strip()]
            more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
            raise CheckpointError(f"{path}: its {part} weights do not fit the model the recipe builds: {details[0]}{more}") from None


def restore_state(setup: Setup, ckpt: dict[str, Any], generator: torch.Generator, path: Path | str = "checkpoint") -> dict[str, Any]:
    """Restore weights, optimiser, scaler and RNG states; returns the run's bookkeeping
    (``step``, ``epoch``, ``best``, ``skipped_steps``, ``logger_state``).

    Raises:
        CheckpointError: a part of the state does not fit this run (one line naming ``path``).
    """
    load_weights(setup, ckpt, path)
    try:
        setup.composer.load_state_dict(ckpt.get("composer", {}))
        setup.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            setup.scaler.load_state_dict(ckpt["scaler"])
        rng = ckpt["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        generator.set_state(rng["batches"].cpu())
        if rng.get("cuda") and torch.cuda.is_available():
            for i, state in enumerate(rng["cuda"][: torch.cuda.device_count()]):  # a host with fewer GPUs: the ones it has
                torch.cuda.set_rng_state(state.cpu(), i)
        return {"step": int(ckpt["step"]), "epoch": int(ckpt["epoch"]), "best": dict(ckpt.get("best", {})),
                "skipped_steps": int(ckpt.get("skipped_steps", 0)), "logger_state": dict(ckpt.get("logger_state", {}))}
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        first = first_line(exc)
        raise CheckpointError(f"{path}: its optimiser, RNG or bookkeeping state is damaged or does not fit this run "
                              f"({type(exc).__name__}: {first})") from None


def load_trained(path: str | Path, plugins: Any, *, data: str | None = None, device: str | None = None,
                 prefer: Which = "best") -> tuple[Setup, dict, Path]:
    """Load a checkpoint — or a run directory's ``prefer`` checkpoint — into a built :class:`Setup`.

    The stored recipe is re-validated against the installed plugins; ``data`` points it at another
    dataset directory. Returns ``(setup, checkpoint, checkpoint_path)`` with the model in eval mode.
    """
    p = RunDir.find_checkpoint(path, prefer)
    ckpt = load_checkpoint(p, map_location="cpu")
    overrides = [set_override("data.path", data)] if data else []
    if device:
        overrides.append(set_override("train.device", device))
    recipe = recipe_from_text(ckpt["recipe"], plugins.registries, source=f"{p} (stored recipe)", overrides=overrides)
    stored = ckpt.get("dataset", {})
    typed, found = getattr(recipe.data.config, "path", None), stored.get("path")
    if not data and isinstance(typed, str) and found and not Path(typed).expanduser().exists():
        # a relative data.path typed in another working directory: use where training found the dataset
        if not Path(found).is_dir():
            raise DatasetError(f"{typed}: dataset directory not found ({p} was trained on {found}); "
                               "pass --data DIR if the dataset moved")
        overrides.append(set_override("data.path", found))
        recipe = recipe_from_text(ckpt["recipe"], plugins.registries, source=f"{p} (stored recipe)", overrides=overrides)
    setup = assemble(recipe, plugins.registries)
    ds = setup.dataset
    for key, have in _dataset_record(ds).items():
        if stored.get(key) is not None and have is not None and stored[key] != have:
            if key == "cluster_names":  # same count, other topics: the router's outputs would mean other clusters
                i = next(i for i, (a, b) in enumerate(zip(stored[key], have)) if a != b)
                stored, have = {key: f"{stored[key][i]!r} at position {i}"}, repr(have[i])
            raise CheckpointError(f"{p}: the model was trained on data with {key} = {stored[key]}, "
                                  f"but {ds.describe().get('path', 'this dataset')} has {have}")
    load_weights(setup, ckpt, p)
    setup.model.eval()
    return setup, ckpt, p
