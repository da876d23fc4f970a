"""Writes the per-pair explanations of each evaluation (``results.samples``) to ``RUN_DIR/xai/``."""

from __future__ import annotations

import json
from pathlib import Path

import attrs

from jasper_core import validators
from jasper_core import hookimpl


@attrs.frozen(kw_only=True)
class XaiSamplesLoggerConfig:
    directory: str = attrs.field(default="xai", validator=validators.run_file)


class XaiSamplesLogger:
    """``xai/<split>-epoch-<N>.json``: routing, atypicality and rank for a sample of pairs, plus routing figures."""

    def __init__(self, config: XaiSamplesLoggerConfig, *, run_dir: Path) -> None:
        self.dir = Path(run_dir) / config.directory

    @hookimpl
    def jasper_eval_end(self, run, epoch, split, results):
        if not results.samples and not results.routing:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        payload = {"epoch": epoch, "split": split, "samples": results.samples, "routing": results.routing,
                   "search_timing": results.search_timing}
        (self.dir / f"{split}-epoch-{epoch}.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
