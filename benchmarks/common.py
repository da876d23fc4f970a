"""Shared set-up for the benchmark scripts: a synthetic dataset written to a temporary directory, and
the arguments that pick the recipe, data and step settings (bench_train.py, profile_step.py)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from jasper_core.recipe.overrides import set_override
from jasper_core.testing import synthetic_tensors
from jasper_core.training.assemble import AUTOCAST_DTYPES
from jasper_core.training.compiled import COMPILE_MODES
from jasper_plugins.data.writer import write_dataset


#: Recipe overrides that keep a benchmark's evaluation short: the zero-hint variant only, no bootstrap
#: intervals (it is not timed, but on 1M pairs the recipe's full evaluation takes longer than the training).
QUICK_EVAL = ['eval.variants=["zero"]', "eval.metric.bootstrap_samples=0"]


def synthetic_dataset_dir(pairs: int, dim: int, clusters: int = 32, negatives: int = 8) -> Path:
    """Write a synthetic dataset of about ``pairs`` pairs and return its directory."""
    out = Path(tempfile.mkdtemp(prefix="jasper-bench-")) / "data"
    tensors, meta = synthetic_tensors(num_clusters=clusters, per_cluster=max(pairs // clusters, 2), dim=dim,
                                      negatives=negatives)
    return write_dataset(out, tensors, meta)


def add_step_arguments(ap: argparse.ArgumentParser) -> None:
    """``--recipe``, ``--data`` (or ``--pairs`` × ``--dim`` synthetic), ``--batch-size``, ``--device``,
    ``--precision``, ``--compile`` and ``--cuda-graph``: read back by :func:`step_overrides`."""
    ap.add_argument("--recipe", default="jepa_base")
    ap.add_argument("--data", help="dataset directory (default: synthetic, --pairs x --dim)")
    ap.add_argument("--pairs", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=sorted(AUTOCAST_DTYPES))
    ap.add_argument("--compile", default="off", choices=COMPILE_MODES,
                    help="train.compile (the first steps then include the compilation)")
    ap.add_argument("--compile-tuning", action="store_true",
                    help="train.compile_tuning: inductor tunes each generated GPU kernel (minutes more compilation)")
    ap.add_argument("--cuda-graph", action="store_true", help="train.cuda_graph: the whole step as one CUDA graph")


def step_overrides(args: argparse.Namespace) -> tuple[Path, list[str]]:
    """The dataset directory (``--data``, else a new synthetic one) and the recipe overrides of
    :func:`add_step_arguments`' arguments (loggers off)."""
    data = Path(args.data) if args.data else synthetic_dataset_dir(args.pairs, args.dim)
    return data, [set_override("data.path", str(data)), f"train.batch_size={args.batch_size}",
                  set_override("train.device", args.device), set_override("train.precision", args.precision),
                  set_override("train.compile", args.compile), f"train.cuda_graph={str(args.cuda_graph).lower()}",
                  f"train.compile_tuning={str(args.compile_tuning).lower()}",
                  "logger=[]"]
