"""Training throughput through the real trainer, against the device's measured matrix-multiply peak.

    .venv/bin/python benchmarks/bench_train.py --recipe jepa_base --batch-size 64 --epochs 3 --device cpu
    python benchmarks/bench_train.py --recipe jepa_base --pairs 1000000 --batch-size 4096 --device cuda --precision bf16
    python benchmarks/bench_train.py --recipe jepa_base --pairs 1000000 --batch-size 4096 --device cuda --compile reduce-overhead

Prints steps/s and pairs/s (median over epochs, measured by the trainer inside each epoch), FLOP
per training pair (counted with torch.utils.flop_counter on one real step: forward, backward and
the target encoding of the source and negatives), the achieved FLOP/s, the peak matmul FLOP/s of
the same device and precision measured in this run, their ratio, peak memory, and the share of
step time in data, forward, backward, optimiser and EMA (torch.profiler over a few steps). The last
line is ``pairs/s: <median>``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from common import QUICK_EVAL, add_step_arguments, step_overrides
from jasper_core import hookimpl
from jasper_core.recipe import load_recipe
from jasper_core.recipe.overrides import set_override
from jasper_core.testing import plugins_with
from jasper_core.training.assemble import AUTOCAST_DTYPES, assemble
from jasper_core.training.batches import epoch_batches
from jasper_core.training.step import train_step
from jasper_core.training.trainer import Trainer

PHASES = ("jasper.data", "jasper.forward", "jasper.backward", "jasper.optimizer", "jasper.ema")


class EpochSpeed:
    """Collects the trainer's own per-epoch throughput."""

    def __init__(self) -> None:
        self.pairs_per_s: list[float] = []
        self.steps_per_s: list[float] = []

    @hookimpl
    def jasper_epoch_end(self, run, epoch, metrics):
        self.pairs_per_s.append(metrics["pairs_per_s"])
        self.steps_per_s.append(run.steps_per_epoch / metrics["epoch_seconds"])


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: torch.device, precision: str, size: int) -> float:
    """FLOP/s of a square matmul of ``size`` in the run's precision (best of a few)."""
    dtype = AUTOCAST_DTYPES[precision] or torch.float32
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    sync(device)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(10):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - t) / 10)
    return 2 * size**3 / best


def flop_per_pair(setup, batch) -> float:
    with FlopCounterMode(display=False) as counter:
        train_step(setup, batch, step=0, total_steps=10, aux_active=True)
    return counter.get_total_flops() / len(batch)


def phase_shares(setup, steps: int) -> dict[str, float]:
    """Share of profiled time in each phase of the step, over ``steps`` steps."""
    gen = torch.Generator().manual_seed(0)
    batches = epoch_batches(setup.dataset, setup.dataset.split("train"), setup.recipe.train.batch_size, generator=gen,
                            variant_probs=setup.curriculum(0, 1))
    activities = [torch.profiler.ProfilerActivity.CPU]
    if setup.device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for i in range(steps):
            try:
                batch = next(batches)
            except StopIteration:
                break
            train_step(setup, batch, step=i, total_steps=steps, aux_active=True)
        sync(setup.device)
    totals = {p: 0.0 for p in PHASES}
    for event in prof.key_averages():
        if event.key in totals:
            totals[event.key] = max(event.cpu_time_total, getattr(event, "device_time_total", 0.0) or 0.0)
    whole = sum(totals.values()) or 1.0
    return {p.split(".")[1]: v / whole for p, v in totals.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_step_arguments(ap)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--matmul-size", type=int, default=0, help="matmul peak size (default 1024 on CPU, 8192 on GPU)")
    args = ap.parse_args()
    data, overrides = step_overrides(args)
    overrides += [f"train.epochs={args.epochs}", f"eval.every={args.epochs}", *QUICK_EVAL]
    speed = EpochSpeed()
    plugins = plugins_with(speed)
    recipe = load_recipe(args.recipe, plugins.registries, overrides)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        Trainer(recipe, plugins, run_dir=Path(tmp) / "run").fit()
    peak_mem = (torch.cuda.max_memory_allocated() if device.type == "cuda"
                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; recipe {args.recipe}; batch {args.batch_size}; {args.precision}; compile {args.compile}"
          f"{' (tuned)' if args.compile_tuning else ''}; cuda_graph {args.cuda_graph}; data {data}")
    print(f"steps/s: {statistics.median(speed.steps_per_s):.1f}  (per epoch: "  # now: counting below may fail
          + ", ".join(f"{s:.1f}" for s in speed.steps_per_s) + ")", flush=True)
    eager = load_recipe(args.recipe, plugins.registries, [*overrides, set_override("train.compile", "off"),
                                                             "train.compile_tuning=false", "train.cuda_graph=false"])
    setup = assemble(eager, plugins.registries)  # FLOP and step shares counted on the eager step
    gen = torch.Generator().manual_seed(0)
    batch = next(epoch_batches(setup.dataset, setup.dataset.split("train"), args.batch_size, generator=gen))
    flops = flop_per_pair(setup, batch)
    shares = phase_shares(setup, steps=20)
    peak = matmul_peak(device, args.precision, args.matmul_size or (8192 if device.type == "cuda" else 1024))
    pairs_s = statistics.median(speed.pairs_per_s)
    achieved = pairs_s * flops
    print(f"FLOP per pair: {flops / 1e6:.2f} MFLOP (forward + backward + target encoding)")
    print(f"achieved: {achieved / 1e12:.3f} TFLOP/s; matmul peak here: {peak / 1e12:.3f} TFLOP/s; "
          f"efficiency {achieved / peak:.1%}")
    print(f"peak memory: {peak_mem / 2**30:.2f} GiB ({'GPU allocated' if device.type == 'cuda' else 'process RSS'})")
    print("step time: " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()))
    print(f"pairs/s: {pairs_s:.0f}")


if __name__ == "__main__":
    main()
