"""The model directory's file names and its ``config.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jasper_core.errors import JasperError

FORMAT = "jasper-model"
VERSION = 1
WEIGHTS = "model.safetensors"
#: the key of config.json holding the CRC-32 of model.safetensors (checked on load)
WEIGHTS_CRC = "weights_crc32"
CONFIG = "config.json"
CARD = "README.md"
#: The optional index of the training corpus inside a model directory (``jasper export --faiss``).
INDEX_DIR = "index"
#: Text embedders that cannot embed new text (the data came as vectors).
NOT_TEXT_MODELS = ("synthetic", "custom")


def read_config(path: str | Path) -> dict[str, Any]:
    """Read and check ``config.json`` of a model directory.

    Raises:
        JasperError: not a model directory, or a format/version this jasper cannot read.
    """
    folder = Path(path)
    file = folder / CONFIG
    if not file.is_file():
        hint = " (a run directory: export it first with `jasper export`)" if (folder / "checkpoints").is_dir() else ""
        raise JasperError(f"{folder}: not a jasper model directory, no {CONFIG}{hint}")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise JasperError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise JasperError(f"{file}: not a jasper model config (format is not {FORMAT!r})")
    if config.get("version") != VERSION:
        raise JasperError(f"{file}: model format version {config.get('version')!r}; this jasper reads version {VERSION}")
    return config
