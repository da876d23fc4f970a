"""Where a captured training step's GPU time goes, from a Chrome trace.

Reads a trace written by ``bench_ddp.py --profile-epoch N --profile-trace`` or ``profile_step.py --trace``
of a run with ``train.cuda_graph`` (``.json`` or ``.json.gz``), groups the GPU kernels by the replay of the
captured step that launched them (the ``cudaGraphLaunch`` call's correlation id), and prints per replay
(median over the replays):

- ``span``: first kernel start to last kernel end; ``busy``: time with any kernel running; ``compute`` and
  ``nccl``: the same for compute kernels and for NCCL kernels; ``overlap``: both at once; ``idle``: span
  minus busy; the kernels per replay;
- ``gaps``: the waits between consecutive kernels of the median replay, those under 1 µs and the others;
- the kernels by time per replay, their names with inductor's trailing ``_<n>`` removed (so the same
  kernel of two compilations compares), and the GPU time outside the replays.

``--compare OTHER`` prints the same for a second trace and the difference per kernel name (OTHER minus
TRACE): e.g. a rank of the two-GPU job against the one-GPU job. ``--step`` lists the median replay's
kernels in order (offset, duration, gap, stream, name).

    python benchmarks/trace_summary.py trace-world1-rank0.json.gz --compare trace-world2-rank0.json.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

#: A replay holds at least this many kernels; smaller groups are graph launches of something else.
MIN_KERNELS = 20
#: A wait between two kernels shorter than this (µs) counts as a small gap.
SMALL_GAP_US = 1.0


def load(path: Path) -> tuple[list[list[dict]], list[dict]]:
    """The trace's GPU events as ``(replays, outside)``: each replay's kernels in start order (replays in
    time order), and the GPU events launched outside any replay."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        events = json.load(f)["traceEvents"]
    gpu = [e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    launches = {e["args"].get("correlation") for e in events
                if e.get("cat") == "cuda_runtime" and e.get("name") == "cudaGraphLaunch"}
    groups: dict = defaultdict(list)
    outside = []
    for e in gpu:
        corr = e.get("args", {}).get("correlation")
        (groups[corr] if corr in launches else outside).append(e)
    replays = sorted((sorted(g, key=lambda e: e["ts"]) for g in groups.values() if len(g) >= MIN_KERNELS),
                     key=lambda g: g[0]["ts"])
    return replays, outside


def union_us(intervals: list[tuple[float, float]]) -> float:
    """Total length of the union of ``(start, end)`` intervals."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def is_nccl(event: dict) -> bool:
    return "nccl" in event["name"].lower()


def replay_stats(replay: list[dict]) -> dict[str, float]:
    """Span, busy, compute, NCCL and overlapped time (µs) and the kernel count of one replay."""
    start = replay[0]["ts"]
    end = max(e["ts"] + e["dur"] for e in replay)
    compute = [(e["ts"], e["ts"] + e["dur"]) for e in replay if not is_nccl(e)]
    nccl = [(e["ts"], e["ts"] + e["dur"]) for e in replay if is_nccl(e)]
    busy, compute_us, nccl_us = union_us(compute + nccl), union_us(compute), union_us(nccl)
    return {"span": end - start, "busy": busy, "compute": compute_us, "nccl": nccl_us,
            "overlap": compute_us + nccl_us - busy, "idle": end - start - busy, "kernels": len(replay)}


def gaps_us(replay: list[dict]) -> tuple[float, float, int]:
    """``(small, large, count_large)``: the summed waits between one kernel's end (the latest so far) and
    the next kernel's start, under and over :data:`SMALL_GAP_US`."""
    small = large = 0.0
    n_large = 0
    reach = replay[0]["ts"]
    for e in replay:
        gap = e["ts"] - reach
        if gap > 0:
            if gap < SMALL_GAP_US:
                small += gap
            else:
                large += gap
                n_large += 1
        reach = max(reach, e["ts"] + e["dur"])
    return small, large, n_large


def base_name(name: str) -> str:
    """A kernel's name without inductor's trailing ``_<n>`` (its index within one compiled graph)."""
    return re.sub(r"_\d+$", "", name)


def per_kernel(replays: list[list[dict]]) -> dict[str, tuple[float, float]]:
    """``{base name: (µs per replay, kernels per replay)}``."""
    time: dict[str, float] = defaultdict(float)
    count: dict[str, float] = defaultdict(float)
    for replay in replays:
        for e in replay:
            time[base_name(e["name"])] += e["dur"]
            count[base_name(e["name"])] += 1
    n = len(replays)
    return {name: (time[name] / n, count[name] / n) for name in time}


def summarize(path: Path, top: int, step: bool) -> dict[str, tuple[float, float]]:
    """Print the summary of one trace; return its per-kernel table."""
    replays, outside = load(path)
    print(f"== {path}: {len(replays)} replays of the captured step, {len(outside)} GPU events outside them")
    if not replays:
        raise SystemExit(f"error: {path} holds no replay of a captured step (trace a run with train.cuda_graph)")
    stats = [replay_stats(r) for r in replays]
    for key in ("span", "busy", "compute", "nccl", "overlap", "idle", "kernels"):
        values = [s[key] for s in stats]
        print(f"  {key:8s} median {statistics.median(values):9.1f}  min {min(values):9.1f}  max {max(values):9.1f}")
    mid = replays[sorted(range(len(replays)), key=lambda i: stats[i]["span"])[len(replays) // 2]]  # the median span
    small, large, n_large = gaps_us(mid)
    print(f"  gaps in the median replay: {small:.1f} us in waits under {SMALL_GAP_US:g} us, "
          f"{large:.1f} us in {n_large} longer ones")
    table = per_kernel(replays)
    print("  top kernels (us per replay, kernels per replay):")
    for name, (us, n) in sorted(table.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"    {us:8.1f} {n:5.1f}  {name[:110]}")
    away: dict[str, float] = defaultdict(float)
    for e in outside:
        away[base_name(e["name"])] += e["dur"] / len(replays)
    print(f"  outside the replays (us per replay): {sum(away.values()):.1f}")
    if step:
        start = reach = mid[0]["ts"]
        print("  the median replay: offset, duration, gap (us), stream, kernel")
        for e in mid:
            print(f"    {e['ts'] - start:8.1f} {e['dur']:7.1f} {e['ts'] - reach:6.1f} s{e['args'].get('stream')} "
                  f"{e['name'][:100]}")
            reach = max(reach, e["ts"] + e["dur"])
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("--compare", type=Path, help="a second trace: its summary and the difference per kernel")
    parser.add_argument("--top", type=int, default=25, help="kernels listed (default 25)")
    parser.add_argument("--step", action="store_true", help="list the median replay's kernels in order")
    args = parser.parse_args(argv)
    for path in (args.trace, args.compare):
        if path is not None and not path.is_file():
            raise SystemExit(f"error: {path}: " + ("a directory, not a trace file" if path.is_dir() else "no such file"))
    base = summarize(args.trace, args.top, args.step)
    if args.compare is None:
        return
    other = summarize(args.compare, args.top, args.step)
    total = sum(us for us, _ in other.values()) - sum(us for us, _ in base.values())
    print(f"== kernel time per replay, {args.compare.name} minus {args.trace.name}: {total:+.1f} us")
    names = sorted(set(base) | set(other), key=lambda n: -abs(other.get(n, (0, 0))[0] - base.get(n, (0, 0))[0]))
    for name in names[:args.top]:
        (a, ca), (b, cb) = base.get(name, (0.0, 0.0)), other.get(name, (0.0, 0.0))
        print(f"  {b - a:+8.1f}  {a:7.1f} -> {b:7.1f} us  {ca:4.1f} -> {cb:4.1f} kernels  {name[:100]}")


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, KeyError) as exc:  # an unreadable or malformed trace: one line
        sys.exit(f"error: cannot read the trace ({type(exc).__name__}: {exc})")
