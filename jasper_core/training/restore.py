"""Rebuild a trained model from a checkpoint (for evaluation, explanation and serving)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jasper_core.recipe import recipe_from_text
from jasper_core.training.assemble import Setup, assemble
from jasper_core.training.checkpoint import load_checkpoint


def load_trained(path: str | Path, plugins: Any, *, data: str | None = None, device: str | None = None) -> tuple[Setup, dict, Path]:
    """Load a checkpoint — or a run directory's ``best.pt`` (else ``last.pt``) — into a built :class:`Setup`.

    The stored recipe is re-validated against the installed plugins; ``data`` points it at another
    dataset directory. Returns ``(setup, checkpoint, checkpoint_path)`` with the model in eval mode.
    """
    p = Path(path)
    if p.is_dir() and (p / "checkpoints" / "best.pt").exists():
        p = p / "checkpoints" / "best.pt"
    ckpt = load_checkpoint(p, map_location="cpu")
    overrides = [f'data.path="{data}"'] if data else []
    if device:
        overrides.append(f'train.device="{device}"')
    recipe = recipe_from_text(ckpt["recipe"], plugins.registries, source=f"{p} (stored recipe)", overrides=overrides)
    setup = assemble(recipe, plugins.registries)
    setup.model.load_state_dict(ckpt["model"])
    setup.target.load_state_dict(ckpt["target"])
    setup.model.eval()
    return setup, ckpt, p
