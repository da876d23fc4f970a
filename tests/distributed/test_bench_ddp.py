"""benchmarks/bench_ddp.py, the one command the 2-GPU scaling figure comes from, on 2 CPU processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_ddp.py"


def test_bench_ddp__runs_both_jobs_and_prints_their_pairs_per_s_and_the_scaling():
    cmd = [sys.executable, str(BENCH), "--recipe", "quickstart", "--pairs", "800", "--dim", "16", "--clusters", "4",
           "--batch-size", "16", "--epochs", "1", "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert re.match(r"1 process: pairs/s [\d,]+ ", lines[-4]) and re.match(r"2 processes: pairs/s [\d,]+ ", lines[-3])
    assert re.fullmatch(r"scaling: \d+\.\d\dx", lines[-1])
