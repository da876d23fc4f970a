"""Where a training step's time goes: wall time per step against the device's busy time, and the top kernels.

    .venv/bin/python benchmarks/profile_step.py --recipe jepa_base --batch-size 64 --device cpu
    python benchmarks/profile_step.py --recipe jepa_base --batch-size 4096 --device cuda --precision bf16 --compile reduce-overhead

Runs ``--warmup`` steps of the real training step (compilation included), then ``--steps`` steps
under ``torch.profiler``. Prints wall ms per step, the device's kernel time per step (on a GPU: if it
is well under the wall time, the step waits for the host: launches and Python), the number of
kernels per step, and the ``--top`` kernels (or CPU operators) by total time; with ``--host``, the
host's Python functions by their own time; with ``--trace FILE``, the profiled steps as a Chrome trace
(every kernel with its full name and start time: the gaps between kernels). Last line:
``wall ms/step: <value>``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

import torch

from common import add_step_arguments, step_overrides
from jasper_core.cli.common import os_error_line
from jasper_core.errors import JasperError
from jasper_core.recipe import load_recipe
from jasper_core.testing import plugins_with
from jasper_core.training.assemble import assemble
from jasper_core.training.batches import epoch_rows
from jasper_core.training.graphed import graphed_step
from jasper_core.training.step import train_rows


def endless_rows(setup, batch_size: int):
    """Training batches' ``(pair indices, steering codes)``, epoch after epoch."""
    epoch = 0
    while True:
        gen = torch.Generator().manual_seed(epoch)
        yield from epoch_rows(setup.dataset.split("train"), batch_size, generator=gen, variant_probs=setup.curriculum(0, 1))
        epoch += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_step_arguments(ap)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--host", action="store_true", help="also print the host's Python functions by own time (cProfile)")
    ap.add_argument("--trace", help="also write the profiled steps as a Chrome trace to this file (.json or .json.gz)")
    args = ap.parse_args()
    if args.trace:  # before minutes of compiling and profiling: a trace that cannot be written is said now
        folder = Path(args.trace).resolve().parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise JasperError(f"--trace {args.trace}: {folder} is not a writable directory")
    _, overrides = step_overrides(args)
    plugins = plugins_with()
    recipe = load_recipe(args.recipe, plugins.registries, overrides)
    setup = assemble(recipe, plugins.registries)
    device = setup.device
    setup.graphed = graphed_step(recipe, device)  # built by the trainer in a run: None unless --cuda-graph on CUDA
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    batches = endless_rows(setup, args.batch_size)
    total = args.warmup + 3 * args.steps
    stepper = setup.graphed or train_rows

    def one_step(rows_codes, step, total_steps, aux_active):
        return stepper(setup, *rows_codes, step=step, total_steps=total_steps, aux_active=aux_active)
    for i in range(args.warmup):
        one_step(next(batches), step=i, total_steps=total, aux_active=True)
    sync()
    started = time.perf_counter()
    for i in range(args.steps):
        one_step(next(batches), step=args.warmup + i, total_steps=total, aux_active=True)
    sync()
    wall_ms = (time.perf_counter() - started) * 1e3 / args.steps
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for i in range(args.steps):
            one_step(next(batches), step=args.warmup + args.steps + i, total_steps=total, aux_active=True)
        sync()
    trace_failed = False
    if args.trace:
        try:
            prof.export_chrome_trace(args.trace)
            if Path(args.trace).is_file() and Path(args.trace).stat().st_size == 0:  # the profiler's own writer
                raise OSError(0, "nothing was written (a full disk?)", args.trace)  # does not report failures
        except OSError as exc:  # the figures below are still printed; the exit status says it
            print(f"error: {os_error_line(exc)} (the trace was not written)", file=sys.stderr)
            trace_failed = True
    if device.type == "cuda":
        kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        busy_ms = sum(e.device_time for e in kernels) / 1e3 / args.steps
        table = prof.key_averages().table(sort_by="device_time_total", row_limit=args.top, max_name_column_width=70)
        print(f"device kernel time: {busy_ms:.3f} ms/step ({busy_ms / wall_ms:.0%} of wall); "
              f"{len(kernels) / args.steps:.0f} kernels/step")
    else:
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top, max_name_column_width=70)
    print(f"recipe {args.recipe}; batch {args.batch_size}; {args.precision}; compile {args.compile}; "
          f"cuda_graph {'on' if setup.graphed and not setup.graphed.disabled else 'off'}; device {device}")
    print(table)
    if args.host:
        host = cProfile.Profile()
        host.enable()
        for i in range(args.steps):
            one_step(next(batches), step=args.warmup + 2 * args.steps + i, total_steps=total, aux_active=True)
        sync()
        host.disable()
        pstats.Stats(host).sort_stats("tottime").print_stats(args.top)
    print(f"pairs/s: {args.batch_size * 1e3 / wall_ms:.0f}")
    print(f"wall ms/step: {wall_ms:.3f}")
    if trace_failed:
        raise SystemExit(1)


if __name__ == "__main__":
    try:
        main()
    except JasperError as exc:  # a wrong recipe, dataset or device: one message, no traceback
        raise SystemExit(f"error: {exc}") from None
