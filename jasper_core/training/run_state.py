"""What a checkpoint holds, putting it back into a run, and loading a trained run for use.

:func:`checkpoint_state` is everything :class:`~jasper_core.training.run_dir.RunDir` saves per
epoch; :func:`restore_state` puts it back for a resume (weights, optimiser, scaler, RNG, the run's
bookkeeping); :func:`load_trained` builds a recipe's :class:`Setup` from a checkpoint or a run
directory for evaluation, export and explanation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from jasper_core.errors import CheckpointError, DatasetError, first_line
from jasper_core.recipe import recipe_from_text, recipe_to_toml
from jasper_core.recipe.overrides import set_override
from jasper_core.training.assemble import Setup, assemble
from jasper_core.training.checkpoint import FORMAT, VERSION, load_checkpoint
from jasper_core.training.run_dir import RunDir, Which


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
