"""benchmarks/bench_train.py end to end on the CPU (slow: trains, then counts FLOP on the eager step)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_train.py"


def test_bench_train__compiled_and_tuned_prints_its_figures():
    """The eager step the FLOP are counted on must drop train.compile_tuning with train.compile (it failed there)."""
    cmd = [sys.executable, str(BENCH), "--recipe", "quickstart", "--pairs", "400", "--dim", "16", "--batch-size", "16",
           "--epochs", "1", "--device", "cpu", "--compile", "default", "--compile-tuning", "--matmul-size", "64"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert any(line.startswith("device: ") and "compile default (tuned)" in line for line in lines)
    assert re.fullmatch(r"pairs/s: \d+", lines[-1])
