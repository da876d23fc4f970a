"""Write a dataset in the legacy layout (``*.pt`` + ``config.json``) or the native format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from jasper_plugins.data.layout import (
    CONFIG_FILE,
    NATIVE_META,
    NATIVE_TENSORS,
    TENSORS,
    TEXTS_FILE,
)
from jasper_plugins.data.native import write_native
from jasper_plugins.data.readers import CHECKSUM_KEY

from jasper_core.errors import DatasetError
from jasper_core.integrity import file_crc32


def _cast(t: torch.Tensor, float_dtype: torch.dtype) -> torch.Tensor:
    return t.to(float_dtype).contiguous() if t.is_floating_point() else t.to(torch.long).contiguous()


def write_dataset(out_dir: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any], texts: dict[str, Any] | None = None,
                  *, fmt: str = "legacy", float_dtype: torch.dtype = torch.float32) -> Path:
    """Write ``tensors`` (every name in the layout) with ``meta`` and optional ``texts``.

    Raises:
        ValueError: a layout tensor is missing. DatasetError: ``out_dir`` already holds a dataset.
    """
    missing = [n for n in TENSORS if n not in tensors]
    if missing:
        raise ValueError(f"cannot write dataset: missing tensor(s) {', '.join(missing)}")
    out_dir = Path(out_dir)
    if (out_dir / CONFIG_FILE).exists() or (out_dir / NATIVE_TENSORS).exists():
        raise DatasetError(f"{out_dir} already holds a dataset; choose an empty directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {k: v for k, v in meta.items() if k != CHECKSUM_KEY}  # a converted dataset's old checksum is stale
    data = {n: _cast(tensors[n], float_dtype) for n in TENSORS}
    if fmt == "native":
        write_native(out_dir / NATIVE_TENSORS, data)
        meta = {**meta, CHECKSUM_KEY: file_crc32(out_dir / NATIVE_TENSORS)}  # checked on every read
        (out_dir / NATIVE_META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    elif fmt == "legacy":
        for name, t in data.items():
            torch.save(t, out_dir / f"{name}.pt")
        (out_dir / CONFIG_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    else:
        raise ValueError(f'unknown dataset format {fmt!r}; choose "legacy" or "native"')
    if texts is not None:
        (out_dir / TEXTS_FILE).write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    return out_dir
