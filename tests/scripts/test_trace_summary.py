"""benchmarks/trace_summary.py on small hand-made traces (no GPU): per-replay figures, gaps, the comparison."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "trace_summary.py"
spec = importlib.util.spec_from_file_location("trace_summary", SCRIPT)
trace_summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(trace_summary)

KERNELS = trace_summary.MIN_KERNELS  # kernels per replay


def replay(corr: int, start: float, gap: float, nccl_at: float | None) -> list[dict]:
    """``KERNELS`` compute kernels of 10 µs, ``gap`` µs apart, launched by graph launch ``corr``; with
    ``nccl_at``, an NCCL kernel of 30 µs starting that many µs into the replay."""
    events, t = [], start
    for i in range(KERNELS):
        events.append({"cat": "kernel", "name": f"triton_poi_fused_add_{i % 2}", "ts": t, "dur": 10.0,
                       "args": {"correlation": corr, "stream": 7}})
        t += 10.0 + gap
    if nccl_at is not None:
        events.append({"cat": "kernel", "name": "ncclDevKernel_AllReduce_Sum_f32", "ts": start + nccl_at, "dur": 30.0,
                       "args": {"correlation": corr, "stream": 9}})
    events.append({"cat": "cuda_runtime", "name": "cudaGraphLaunch", "ts": start - 5, "dur": 2, "args": {"correlation": corr}})
    return events


def write(path: Path, events: list[dict]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as f:
        json.dump({"traceEvents": events}, f)
    return path


@pytest.fixture
def one_gpu(tmp_path):
    events = [e for k in range(3) for e in replay(k, 1000.0 * k, gap=0.5, nccl_at=None)]
    events.append({"cat": "kernel", "name": "outside_kernel", "ts": 5000.0, "dur": 4.0, "args": {"correlation": 99}})
    return write(tmp_path / "one.json", events)


@pytest.fixture
def two_gpu(tmp_path):
    # the NCCL kernel runs from 100 to 130 µs, beside compute kernels but for two 2 µs gaps
    events = [e for k in range(3) for e in replay(10 + k, 1000.0 * k, gap=2.0, nccl_at=100.0)]
    return write(tmp_path / "two.json.gz", events)


def test_replay_stats__span_busy_overlap_and_idle(two_gpu):
    replays, outside = trace_summary.load(two_gpu)
    assert len(replays) == 3 and outside == []
    stats = trace_summary.replay_stats(replays[0])
    span = KERNELS * 10 + (KERNELS - 1) * 2.0
    assert stats["span"] == pytest.approx(span)
    assert stats["compute"] == pytest.approx(KERNELS * 10)
    assert stats["nccl"] == pytest.approx(30)
    # compute kernels run 96-106, 108-118 and 120-130 µs: 26 µs of the NCCL kernel's 100-130 µs overlap them,
    # and it alone fills the two 2 µs gaps
    assert stats["overlap"] == pytest.approx(26)
    assert stats["busy"] == pytest.approx(KERNELS * 10 + 4)
    assert stats["idle"] == pytest.approx(span - stats["busy"])
    assert stats["kernels"] == KERNELS + 1


def test_gaps__small_and_large_waits_between_kernels(one_gpu, two_gpu):
    (first, *_), _ = trace_summary.load(one_gpu)
    assert trace_summary.gaps_us(first) == pytest.approx((0.5 * (KERNELS - 1), 0.0, 0))
    (first, *_), _ = trace_summary.load(two_gpu)
    small, large, n_large = trace_summary.gaps_us(first)
    assert small == 0.0 and n_large == KERNELS - 3  # the NCCL kernel covers the gaps at 106 and 118 µs
    assert large == pytest.approx(2.0 * n_large)


def test_per_kernel__names_without_inductors_index():
    replays = [[e for e in replay(1, 0.0, 0.0, None) if e["cat"] == "kernel"]]
    table = trace_summary.per_kernel(replays)
    assert set(table) == {"triton_poi_fused_add"}
    assert table["triton_poi_fused_add"] == pytest.approx((KERNELS * 10, KERNELS))


def test_main__prints_both_summaries_and_the_difference(one_gpu, two_gpu, capsys):
    trace_summary.main([str(one_gpu), "--compare", str(two_gpu), "--step"])
    out = capsys.readouterr().out
    assert f"{one_gpu}: 3 replays of the captured step, 1 GPU events outside them" in out
    assert "outside the replays (us per replay): 1.3" in out  # 4 µs over 3 replays
    assert "minus one.json: +30.0 us" in out  # the NCCL kernel
    assert "+30.0" in out and "ncclDevKernel_AllReduce_Sum_f32" in out
    assert "the median replay: offset" in out


def test_main__refuses_a_trace_without_replays_a_missing_file_and_a_directory(tmp_path):
    eager = write(tmp_path / "eager.json", [{"cat": "kernel", "name": "k", "ts": 0.0, "dur": 1.0, "args": {}}])
    with pytest.raises(SystemExit, match="no replay of a captured step"):
        trace_summary.main([str(eager)])
    with pytest.raises(SystemExit, match="no such file"):
        trace_summary.main([str(tmp_path / "absent.json")])
    with pytest.raises(SystemExit, match="a directory, not a trace file"):
        trace_summary.main([str(eager), "--compare", str(tmp_path)])


def test_script__a_malformed_trace_is_one_error_line(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = subprocess.run([sys.executable, str(SCRIPT), str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: cannot read the trace (JSONDecodeError")
    assert len(proc.stderr.strip().splitlines()) == 1
