"""Shared set-up for the benchmark scripts: a synthetic dataset written to a temporary directory."""

from __future__ import annotations

import tempfile
from pathlib import Path

from jasper_core.testing import synthetic_tensors
from jasper_plugins.data.writer import write_dataset


def synthetic_dataset_dir(pairs: int, dim: int, clusters: int = 32, negatives: int = 8) -> Path:
    """Write a synthetic dataset of about ``pairs`` pairs and return its directory."""
    out = Path(tempfile.mkdtemp(prefix="jasper-bench-")) / "data"
    tensors, meta = synthetic_tensors(num_clusters=clusters, per_cluster=max(pairs // clusters, 2), dim=dim,
                                      negatives=negatives)
    return write_dataset(out, tensors, meta)
