"""The public façade of jasper; the code lives in :mod:`jasper_core` and :mod:`jasper_plugins`.

``import jasper`` is cheap: torch and the plugins load on first use.

    results = jasper.train("quickstart", run_dir="runs/q")            # or a recipe file, with overrides
    jasper.export("runs/q", "models/q", faiss=True)                  # a model directory (+ the corpus index)
    model = jasper.load("models/q")
    model.search(["a question"], k=10, steering="cluster name")      # or jasper.Keywords("..."), or a vector

Plugin authors: ``from jasper import hookimpl`` (the same marker as ``jasper_core.hookimpl``).
Messages go to the standard :mod:`logging` loggers under ``jasper`` (no handler is installed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

__all__ = ["JasperModel", "Keywords", "export", "hookimpl", "load", "load_plugins", "train"]
#: Names resolved lazily from the implementation packages.
_LAZY = {"JasperModel": "jasper_core.inference", "Keywords": "jasper_core.inference",
         "hookimpl": "jasper_core", "load_plugins": "jasper_core", "__version__": "jasper_core"}


def load(path: Any, *, device: str = "cpu") -> Any:
    """Load a model directory written by ``jasper export`` as a :class:`jasper_core.inference.JasperModel`
    (with its ``index/``, when it has one, ready to search)."""
    from jasper_core.inference import load as _load

    return _load(path, device=device)


def train(recipe: Any, *, run_dir: str | Path | None = None, overrides: Iterable[str] = (),
          resume: str | None = None) -> Any:
    """Train ``recipe`` (a built-in name, a TOML file, or a :class:`jasper_core.recipe.Recipe`) as ``jasper train`` does.

    Args:
        run_dir: default ``runs/<recipe>-<time>-<pid>``. overrides: ``--set`` texts, e.g. ``"train.epochs=3"``.
        resume: ``"auto"`` or a checkpoint path, as ``--resume``.

    Returns:
        the final :class:`jasper_core.EvalResults` (also in ``RUN_DIR/eval.json``).
    """
    from jasper_core.cli.train_cmd import default_run_dir
    from jasper_core.plugin_manager import load_plugins as _plugins
    from jasper_core.recipe import load_recipe
    from jasper_core.training.trainer import Trainer

    plugins = _plugins()
    name = str(recipe) if isinstance(recipe, (str, Path)) else "recipe"
    built = load_recipe(name, plugins.registries, list(overrides)) if isinstance(recipe, (str, Path)) else recipe
    out = Path(run_dir) if run_dir is not None else default_run_dir(name)
    return Trainer(built, plugins, run_dir=out, recipe_name=name, resume=resume).fit()


def export(run: str | Path, out: str | Path, *, checkpoint: str = "best", faiss: bool = False,
           data: str | None = None) -> Path:
    """Export a run directory (or a checkpoint file) as a model directory, as ``jasper export``; returns ``out``."""
    from jasper_core.inference import export_model
    from jasper_core.plugin_manager import load_plugins as _plugins

    return export_model(run, out, _plugins(), prefer=checkpoint, data=data, index=faiss)[0]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jasper' has no attribute {name!r}")
