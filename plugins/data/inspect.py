"""``jasper data inspect``: sizes, clusters, steering and negative statistics, integrity verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from jasper_core import VARIANTS
from jasper_core.errors import DatasetError
from jasper_plugins.data.layout import SPLITS
from jasper_plugins.data.readers import read_dataset_dir
from jasper_plugins.data.validate import validate


def inspect_dataset(root: Path, fmt: str = "auto") -> dict[str, Any]:
    """Statistics of a dataset directory; ``integrity`` is ``"ok"`` or the first error found."""
    tensors, meta, texts, fmt = read_dataset_dir(root, fmt)
    report: dict[str, Any] = {"path": str(root), "format": fmt, "model_name": meta.get("model_name", "?")}
    try:
        sizes = validate(tensors, root, fmt)
        report["integrity"] = "ok"
    except DatasetError as exc:
        report["integrity"] = str(exc)
        return report
    report["sizes"] = {k: v for k, v in sizes.items() if k != "2"}
    report["bytes"] = sum(f.stat().st_size for f in root.iterdir() if f.is_file())
    names = meta.get("cluster_names") or [f"cluster_{i}" for i in range(sizes["C"])]
    counts = torch.bincount(tensors["pair_cluster_id"].long(), minlength=sizes["C"])
    report["clusters"] = {str(names[i]): int(c) for i, c in enumerate(counts)}
    q = tensors["question_embs"].float()
    s = tensors["source_embs"].float()
    pair = tensors["pair_index"].long()
    report["question_source_cosine"] = float(torch.nn.functional.cosine_similarity(q[pair[:, 0]], s[pair[:, 1]]).mean())
    report["steering"] = {
        name: {"mean_norm": float(tensors[name].float().norm(dim=1).mean()),
               "zero_rows": int((tensors[name].float().norm(dim=1) == 0).sum())}
        for name in (v.stored_as for v in VARIANTS if v.stored_as)
    }
    report["centroid_distance_mean"] = float(tensors["centroid_distances"].float().mean())
    tiers = tensors["negative_tiers"].long()
    report["negatives"] = {"per_pair": int(tiers.shape[1]),
                           "tiers": {int(t): int((tiers == t).sum()) for t in torch.unique(tiers)}}
    report["splits"] = {s_: int(tensors[f"{s_}_idx"].numel()) for s_ in SPLITS}
    report["has_texts"] = bool(texts)
    return report
