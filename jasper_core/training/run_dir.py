"""The run directory: its layout, its lock, the rules for resuming, and writing its files.

What a checkpoint holds and loading a trained run back: :mod:`jasper_core.training.run_state`.

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

from jasper_core.contracts import EvalResults
from jasper_core.errors import CheckpointError, JasperError
from jasper_core.recipe import same_run
from jasper_core.training.checkpoint import atomic_save, atomic_write_text, write_failure
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

    def resume_source(self, resume: str | None, recipe_text: str, registries: Any = None) -> Path | None:
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
        empty = not self.holds_run() or self.killed_before_first_checkpoint(recipe_text, registries)
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

    def killed_before_first_checkpoint(self, recipe_text: str, registries: Any = None) -> bool:
        """True when the directory holds only the start of a run of this very recipe (``recipe.toml``
        the same run as ``recipe_text``: :func:`same_run`, with ``registries`` resolving both again) that
        was stopped before it wrote any checkpoint or evaluation file: nothing of value is there, so
        ``--resume auto`` starts that run again."""
        try:
            same = same_run(self.recipe_file.read_text(encoding="utf-8"), recipe_text, registries)
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
