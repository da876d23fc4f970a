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
CLUES = re.compile(r"terminate|Fatal|abort|Abort|Error|error:|Traceback|signal")


def _failure(proc: subprocess.CompletedProcess) -> str:
    """The tails of a failed run's output, after every line of its error output that may say why (a rank killed
    by a signal leaves its reason far above the launcher's own tail)."""
    clues = [line for line in proc.stderr.splitlines() if CLUES.search(line)][:40]
    return "\n".join(["clues:", *clues, "stdout tail:", proc.stdout[-2000:], "stderr tail:", proc.stderr[-3000:]])


def test_bench_ddp__runs_both_jobs_and_prints_their_pairs_per_s_and_the_scaling():
    cmd = [sys.executable, str(BENCH), "--recipe", "quickstart", "--pairs", "800", "--dim", "16", "--clusters", "4",
           "--batch-size", "16", "--epochs", "1", "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, _failure(proc)
    lines = proc.stdout.strip().splitlines()
    assert re.match(r"1 process: pairs/s [\d,]+ ", lines[-4]) and re.match(r"2 processes: pairs/s [\d,]+ ", lines[-3])
    assert re.fullmatch(r"scaling: \d+\.\d\dx", lines[-1])


def test_bench_ddp__repeats_alternate_the_jobs_and_report_each_rounds_speed_up():
    cmd = [sys.executable, str(BENCH), "--recipe", "quickstart", "--pairs", "800", "--dim", "16", "--clusters", "4",
           "--batch-size", "16", "--epochs", "1", "--device", "cpu", "--repeats", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, _failure(proc)
    lines = proc.stdout.strip().splitlines()
    rounds = [line for line in lines if line.startswith("round ")]
    assert [r.split(":")[0] for r in rounds] == ["round 1", "round 2"]
    speedups = sorted(float(r.rsplit(" ", 1)[1].rstrip("x")) for r in rounds)
    middle = re.fullmatch(r"speed-up over rounds: median (\d+\.\d\d)x, min (\d+\.\d\d)x, max (\d+\.\d\d)x", lines[-3])
    assert middle and float(middle[2]) == pytest.approx(speedups[0], abs=0.006)
    assert float(middle[3]) == pytest.approx(speedups[1], abs=0.006)
    assert lines[-1] == f"scaling: {middle[1]}x"


def test_bench_ddp__repeats_with_a_profile_are_refused_in_one_line():
    proc = subprocess.run([sys.executable, str(BENCH), "--repeats", "2", "--profile-epoch", "1", "--log-dir", "/tmp"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--repeats must be at least 1, and 1 with --profile-epoch" in proc.stderr


def test_bench_ddp__profile_trace_writes_each_ranks_chrome_trace(tmp_path):
    cmd = [sys.executable, str(BENCH), "--recipe", "quickstart", "--pairs", "800", "--dim", "16", "--clusters", "4",
           "--batch-size", "16", "--epochs", "2", "--device", "cpu", "--profile-epoch", "2", "--profile-trace",
           "--log-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, _failure(proc)
    traces = sorted(p.name for p in tmp_path.glob("trace-*.json"))
    assert traces == ["trace-world1-rank0.json", "trace-world2-rank0.json", "trace-world2-rank1.json"]
    import json

    events = json.loads((tmp_path / "trace-world2-rank1.json").read_text())["traceEvents"]
    assert any(e.get("name", "").startswith("jasper.") for e in events)  # the step's own profiler scopes


def test_bench_ddp__profile_trace_without_a_profiled_epoch_is_refused_in_one_line():
    proc = subprocess.run([sys.executable, str(BENCH), "--profile-trace"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--profile-trace needs --profile-epoch" in proc.stderr


@pytest.mark.parametrize("epochs, profiled, says", [(1, 1, "--profile-epoch needs --epochs 2 or more"),
                                                    (3, 4, "--profile-epoch must name one of the 3 epochs (1 to 3)"),
                                                    (3, -1, "--profile-epoch must name one of the 3 epochs")])
def test_bench_ddp__a_profiled_epoch_that_leaves_no_figure_or_does_not_run_is_refused(epochs, profiled, says):
    proc = subprocess.run([sys.executable, str(BENCH), "--epochs", str(epochs), "--profile-epoch", str(profiled),
                           "--log-dir", "/tmp"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and says in proc.stderr


def test_bench_ddp__same_global_batch_runs_the_one_process_job_at_the_global_batch(tmp_path):
    cmd = [sys.executable, str(BENCH), "--recipe", "quickstart", "--pairs", "800", "--dim", "16", "--clusters", "4",
           "--batch-size", "16", "--epochs", "1", "--device", "cpu", "--same-global-batch", "--log-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, _failure(proc)
    assert "batch 32 in 1 process, 16 per device in 2 (the same global batch)" in proc.stdout
    # 640 training pairs: 20 steps of 32 in both jobs (batch 16 in one process would take 40)
    steps = [re.search(r"^ step +(\d+) *$", (tmp_path / f"job-{n}.log").read_text(), re.M) for n in (1, 2)]
    assert [int(m[1]) for m in steps if m] == [20, 20]
    assert re.fullmatch(r"scaling: \d+\.\d\dx", proc.stdout.strip().splitlines()[-1])
