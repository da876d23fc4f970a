"""Read a dataset directory in any supported format into ``(tensors, meta, texts, origin)``.

Formats: the legacy layout (``config.json`` + one ``*.pt`` per tensor), the same tensors in one
``dataset.h5``, and the native format (``tensors.safetensors`` + ``meta.json``, memory-mapped).
Every ``.pt`` file is loaded through ``safe_load`` (CRC check, then ``torch.load(weights_only=True)``):
a damaged file is named, a file that would run code is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from jasper_plugins.data.layout import (
    CONFIG_FILE,
    H5_FILE,
    LEGACY_SUFFIX,
    NATIVE_META,
    NATIVE_TENSORS,
    TENSORS,
    TEXTS_FILE,
)
from jasper_plugins.data.validate import TEXT_ROWS, check_texts

from jasper_core.errors import DatasetError
from jasper_core.integrity import file_crc32
from jasper_core.training.checkpoint import UnreadableFile, safe_load

Tensors = dict[str, torch.Tensor]


def detect_format(root: Path) -> str:
    """``"native"``, ``"h5"`` or ``"legacy"`` from the files present."""
    if (root / NATIVE_TENSORS).exists():
        return "native"
    if (root / H5_FILE).exists():
        return "h5"
    return "legacy"


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing {what}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read {what}: {exc}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: {what} must be a JSON object, got {type(data).__name__}")
    return data


def _keyword_ids_to_tensor(path: Path, value: Any) -> torch.Tensor:
    """``pair_keyword_ids`` may be a padded tensor or a list of per-pair id lists/tensors."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (list, tuple)):
        rows = [torch.as_tensor(v, dtype=torch.long).reshape(-1) for v in value]
        width = max((len(r) for r in rows), default=0)
        out = torch.full((len(rows), max(width, 1)), -1, dtype=torch.long)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out
    raise DatasetError(f"{path}: tensor 'pair_keyword_ids' must be a tensor or a list of id lists, got {type(value).__name__}")


def load_pt(path: Path, name: str) -> torch.Tensor:
    """Load one tensor file safely."""
    if not path.exists():
        raise DatasetError(
            f"{path}: missing tensor '{name}'; a JASPER dataset directory needs "
            f"{', '.join(n + LEGACY_SUFFIX for n in TENSORS)} and {CONFIG_FILE}"
        )
    try:
        value = safe_load(path)
    except UnreadableFile as exc:
        if exc.runs_code:
            raise DatasetError(f"{path}: refused to load tensor '{name}': {exc.reason}. "
                               "Re-save it with torch.save(tensor).") from None
        raise DatasetError(f"{path}: cannot read tensor '{name}': the file is damaged or not a torch file ({exc.reason})") from None
    if name == "pair_keyword_ids":
        return _keyword_ids_to_tensor(path, value)
    if not isinstance(value, torch.Tensor):
        raise DatasetError(f"{path}: tensor '{name}' must be a torch.Tensor, got {type(value).__name__}")
    return value


def read_legacy(root: Path) -> Tensors:
    return {name: load_pt(root / f"{name}{LEGACY_SUFFIX}", name) for name in TENSORS}


def read_h5(root: Path) -> Tensors:
    try:
        import h5py
    except ImportError:
        raise DatasetError(f"{root / H5_FILE}: reading dataset.h5 needs h5py; pip install 'jasper-retrieval[h5]'") from None
    out: Tensors = {}
    path = root / H5_FILE
    try:
        with h5py.File(path, "r") as f:
            for name in TENSORS:
                if name not in f:
                    raise DatasetError(f"{path}: missing dataset '{name}'")
                out[name] = torch.from_numpy(f[name][()])
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read HDF5 file: {exc}") from None
    return out


CHECKSUM_KEY = "tensors_crc32"  # in meta.json: the CRC-32 of tensors.safetensors, written by the writer


def read_native(root: Path, meta: dict[str, Any] | None = None) -> Tensors:
    from jasper_plugins.data.native import read_mmap

    path = root / NATIVE_TENSORS
    want = (meta or {}).get(CHECKSUM_KEY)
    if want is not None and path.is_file() and file_crc32(path) != want:  # safetensors has no checksum of its own
        raise DatasetError(f"{path}: damaged: its CRC-32 is not the {want} that {NATIVE_META} records; "
                           "copy or convert the dataset again")
    try:
        tensors = read_mmap(path)  # memory-mapped: nothing is read until used
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read safetensors file: {exc}") from None
    missing = [n for n in TENSORS if n not in tensors]
    if missing:
        raise DatasetError(f"{path}: missing tensor(s) {', '.join(missing)}")
    return {n: tensors[n] for n in TENSORS}


def read_dataset_dir(root: Path, fmt: str = "auto") -> tuple[Tensors, dict[str, Any], dict[str, Any] | None, str]:
    """Read any supported format. Returns ``(tensors, meta, texts_or_None, format)``."""
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset directory not found")
    fmt = detect_format(root) if fmt == "auto" else fmt
    if fmt == "native":
        meta = read_json(root / NATIVE_META, "dataset metadata")
        tensors = read_native(root, meta)
    else:
        meta = read_json(root / CONFIG_FILE, "dataset config")
        tensors = read_h5(root) if fmt == "h5" else read_legacy(root)
    texts_file = root / TEXTS_FILE
    texts = read_json(texts_file, "texts") if texts_file.exists() else meta.get("texts")
    meta_file = root / (NATIVE_META if fmt == "native" else CONFIG_FILE)
    if all(n in tensors for n in TEXT_ROWS.values()):
        check_texts(texts, meta, tensors, texts_file if texts_file.exists() else meta_file, meta_file)
    return tensors, meta, texts, fmt
