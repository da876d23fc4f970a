"""Export a trained run (or one checkpoint) as a self-contained model directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from jasper_core.contracts.steering import STEERING_VARIANTS
from jasper_core.inference.atomic import atomic_directory, check_free
from jasper_core.inference.card import model_card
from jasper_core.inference.layout import (
    CARD,
    CONFIG,
    FORMAT,
    INDEX_DIR,
    VERSION,
    WEIGHTS,
    WEIGHTS_CRC,
)
from jasper_core.integrity import file_crc32

OUT_HINT = "choose another --out"


def _tensors(setup: Any) -> dict[str, torch.Tensor]:
    """Every tensor of the model directory: ``model.*``, ``target.*``, ``centroids`` and ``centroids_target`` ``[C, D]``.

    Each is a contiguous CPU copy (safetensors refuses tensors sharing memory)."""
    out = {f"model.{k}": v.detach().cpu().clone().contiguous() for k, v in setup.model.state_dict().items()}
    out.update({f"target.{k}": v.detach().cpu().clone().contiguous() for k, v in setup.target_space.state_dict().items()})
    with torch.no_grad():
        centroids = setup.dataset.centroids.float()
        out["centroids"] = centroids.detach().cpu().clone().contiguous()
        out["centroids_target"] = setup.target_space(centroids).float().cpu().clone().contiguous()
    return out


def _steering_record(setup: Any, steps: int) -> dict[str, Any]:
    """How the model was steered in training: the curriculum table and its probabilities at the start and end."""
    from jasper_core.training.assemble import build_schedule

    recipe = setup.recipe
    curriculum = build_schedule(recipe.train.curriculum, setup.registries, length=len(STEERING_VARIANTS))
    total = max(steps, 1)
    probs = {when: dict(zip(STEERING_VARIANTS, (round(float(p), 6) for p in curriculum(step, total))))
             for when, step in (("start", 0), ("end", total))}
    return {"curriculum": recipe.train.curriculum.to_dict(), **probs, "best_variant": recipe.eval.best_variant,
            "best_metric": recipe.eval.best_metric}


def portable_recipe(setup: Any, text: str) -> str:
    """The stored recipe ``text`` with its dataset directory reduced to the directory's name, so the model
    directory holds no path of the training machine (loading never reads the dataset)."""
    from jasper_core.recipe import recipe_from_text, recipe_to_toml
    from jasper_core.recipe.overrides import set_override

    path = getattr(setup.recipe.data.config, "path", None)
    if not isinstance(path, str) or Path(path).name == path:
        return text
    recipe = recipe_from_text(text, setup.registries, source="stored recipe",
                              overrides=[set_override("data.path", Path(path).name)])
    return recipe_to_toml(recipe)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def model_config(setup: Any, ckpt: dict[str, Any], checkpoint: Path) -> dict[str, Any]:
    """What ``config.json`` holds."""
    from jasper_core import __version__

    ds = setup.dataset
    return {
        "format": FORMAT, "version": VERSION, "jasper_version": __version__,
        "dim": int(ds.dim), "num_clusters": int(ds.num_clusters), "cluster_names": [str(n) for n in ds.cluster_names],
        "embedding_model": ds.meta.get("model_name"),
        "target_mode": setup.recipe.target_space.mode,
        "model_type": setup.recipe.model.type,
        "steering": _steering_record(setup, int(ckpt.get("step", 0))),
        "checkpoint": {"file": checkpoint.name, "epoch": int(ckpt.get("epoch", 0)), "step": int(ckpt.get("step", 0)),
                       "metrics": _jsonable(ckpt.get("metrics") or {}), "best": _jsonable(ckpt.get("best") or {})},
        "recipe": portable_recipe(setup, ckpt["recipe"]),
    }


def write_training_index(folder: Path, model: Any, dataset: Any, backend: str) -> int:
    """Index the training corpus with ``model`` (a :class:`JasperModel` of the exported weights): the
    dataset's sources, each in its own cluster's list, with their texts when the dataset has them, as
    ``folder/index``, loaded with the model. Returns its size."""
    texts = dataset.texts.get("sources") if isinstance(getattr(dataset, "texts", None), dict) else None
    sources = dataset.sources.float().cpu()
    texts = list(texts) if texts is not None and len(texts) == sources.shape[0] else None
    model.index(sources, clusters=dataset.source_cluster.cpu().tolist(), texts=texts, backend=backend)  # type: ignore[arg-type]
    model.save_index(folder / INDEX_DIR)
    return sources.shape[0]


def export_model(path: str | Path, out: str | Path, plugins: Any, *, prefer: str = "best",
                 data: str | None = None, index: bool = False) -> tuple[Path, dict[str, Any]]:
    """Export a run directory's ``prefer`` checkpoint (or a checkpoint file) to the model directory ``out``.

    With ``index``, the training corpus is written as ``out/index`` (a FAISS IVF whose lists are the
    clusters; the torch form, with one warning, when FAISS is not installed), searched by
    ``jasper.load(out).search`` without indexing anything.

    The training dataset is read (for its centroids, cluster names and embedding model name) at export
    time only. Files are written into a temporary directory beside ``out`` and renamed at the end, so a
    failure leaves nothing half-written. Returns ``(out, config)``.

    Raises:
        JasperError: ``out`` exists and is not empty; nothing to load; the files cannot be written.
    """
    from safetensors.torch import save_file

    from jasper_core.training.run_dir import RunDir
    from jasper_core.training.run_state import load_trained

    out = Path(out)
    check_free(out, OUT_HINT)
    setup, ckpt, checkpoint = load_trained(path, plugins, data=data, device="cpu", prefer=prefer)
    config = model_config(setup, ckpt, checkpoint)
    evaluation = RunDir.of_checkpoint(checkpoint).read_eval()
    with atomic_directory(out, "model directory", OUT_HINT) as tmp:
        tensors = _tensors(setup)
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT, "version": str(VERSION)})
        config[WEIGHTS_CRC] = file_crc32(tmp / WEIGHTS)  # safetensors keeps no checksum: checked by jasper.load
        (tmp / CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
        (tmp / CARD).write_text(model_card(config, evaluation, out.name), encoding="utf-8")
        if index:  # the weights just written, in memory: no second load of the directory
            from jasper_core.inference.model import JasperModel

            model = JasperModel(config, setup.model, setup.target_space, tensors["centroids"], tensors["centroids_target"],
                                torch.device("cpu"))
            write_training_index(tmp, model, setup.dataset, "faiss")
    return out, config
