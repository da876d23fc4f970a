"""Integrity checks run on every dataset load; each error names file, tensor and first bad index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from jasper_core.errors import DatasetError
from jasper_plugins.data.layout import REFERENCES, TENSORS


def _where(root: Path, fmt: str, name: str) -> str:
    files = {"legacy": f"{name}.pt", "h5": "dataset.h5", "native": "tensors.safetensors"}
    return str(root / files.get(fmt, name))


def first_nonfinite_row(t: torch.Tensor, chunk: int = 1 << 15) -> int | None:
    """The first row of ``t`` holding NaN or Inf, or None; scanned in row chunks, so a memory-mapped
    table is never copied whole."""
    if t.dim() == 0:
        return None if bool(torch.isfinite(t)) else 0
    for start in range(0, t.shape[0], chunk):
        part = t[start : start + chunk]
        bad = ~torch.isfinite(part).reshape(part.shape[0], -1).all(dim=1)
        if bad.any():
            return start + int(bad.nonzero()[0, 0])
    return None


def validate(tensors: dict[str, torch.Tensor], root: Path, fmt: str) -> dict[str, int]:
    """Check dtypes, shapes, NaN/Inf and references. Returns the resolved size symbols.

    Raises:
        DatasetError: at the first problem, naming the file, the tensor and the first bad index.
    """
    sizes: dict[str, int] = {"2": 2}
    for name, (family, symbols) in TENSORS.items():
        t = tensors[name]
        where = _where(root, fmt, name)
        ok_dtype = t.is_floating_point() if family == "float" else (not t.is_floating_point() and t.dtype != torch.bool and not t.is_complex())
        if not ok_dtype:
            raise DatasetError(f"{where}: tensor '{name}' must have a {family} dtype, got {t.dtype}")
        if family == "int" and not t.dtype.is_signed:  # -1 pads, and unsigned comparisons would misreport every index
            raise DatasetError(f"{where}: tensor '{name}' must have a signed integer dtype (int64), got {t.dtype}")
        if t.dim() != len(symbols):
            raise DatasetError(f"{where}: tensor '{name}' must have shape [{', '.join(symbols)}], got {list(t.shape)}")
        for axis, sym in enumerate(symbols):
            n = int(t.shape[axis])
            if sym in sizes and sizes[sym] != n:
                raise DatasetError(
                    f"{where}: tensor '{name}' has {n} along axis {axis} ({sym}), but other tensors have {sizes[sym]}"
                )
            sizes.setdefault(sym, n)
        if family == "float":
            first = first_nonfinite_row(t)
            if first is not None:
                raise DatasetError(f"{where}: tensor '{name}' has NaN or Inf at row {first}")
    for name, column, target, padded in REFERENCES:
        t = tensors[name] if column is None else tensors[name][:, column]
        limit = int(tensors[target].shape[0])
        low = -1 if padded else 0
        bad = (t < low) | (t >= limit)
        if bad.any():
            flat = bad.reshape(-1).nonzero()[0, 0]
            row = int(flat // (t.shape[1] if t.dim() > 1 else 1))
            value = int(t.reshape(-1)[flat])
            col = f" column {column}" if column is not None else ""
            raise DatasetError(
                f"{_where(root, fmt, name)}: tensor '{name}'{col} has index {value} at row {row}, "
                f"outside [0, {limit}) of '{target}'"
            )
    for split in ("train_idx", "val_idx", "test_idx"):
        idx = tensors[split]
        if idx.numel() != torch.unique(idx).numel():
            raise DatasetError(f"{_where(root, fmt, split)}: tensor '{split}' lists a pair more than once")
    if sizes.get("Ntrain", 0) == 0:
        raise DatasetError(f"{_where(root, fmt, 'train_idx')}: tensor 'train_idx' is empty; nothing to train on")
    return sizes


#: texts.json key -> the tensor whose rows it names (one string per row)
TEXT_ROWS = {"questions": "question_embs", "sources": "source_embs", "keywords": "keyword_embs", "clusters": "centroid_embs"}


def check_texts(texts: Any, meta: dict[str, Any], tensors: dict[str, torch.Tensor], where: Path, meta_file: Path) -> None:
    """Texts and cluster names, when present, must be lists of strings with one entry per row of their
    tensor (else a report or an explanation would fail, or name the wrong text, after training).

    Raises:
        DatasetError: naming the file and the key.
    """
    names = meta.get("cluster_names")
    rows = tensors["centroid_embs"].shape[0] if tensors["centroid_embs"].dim() else 0
    if names is not None and not (isinstance(names, list) and len(names) == rows and all(isinstance(n, str) for n in names)):
        raise DatasetError(f"{meta_file}: 'cluster_names' must be a list of {rows} strings (one per row of centroid_embs)")
    if texts is None:
        return
    if not isinstance(texts, dict):
        raise DatasetError(f"{where}: texts must be a JSON object with lists 'questions', 'sources', ...")
    for key, tensor in TEXT_ROWS.items():
        value = texts.get(key)
        if value is None:
            continue
        want = tensors[tensor].shape[0] if tensors[tensor].dim() else 0
        if not isinstance(value, list) or len(value) != want or not all(isinstance(v, str) for v in value):
            got = f"{len(value)} entries" if isinstance(value, list) else type(value).__name__
            raise DatasetError(f"{where}: texts '{key}' must be a list of {want} strings (one per row of {tensor}), got {got}")
