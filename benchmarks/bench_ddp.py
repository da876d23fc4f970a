"""Data-parallel scaling: the same recipe and data in a 1-process and an N-process torchrun job.

    # two GPUs (the session script installs jasper first, then runs the 2-GPU test and this):
    bash benchmarks/ddp_session.sh OUT_DIR
    # ≈ python benchmarks/bench_ddp.py --recipe jepa_base --pairs 1000000 --dim 384 --batch-size 16384 --precision bf16 \
    #       --compile default --cuda-graph --device cuda --gpus 2 --epochs 3 --set 'loss[1].gather=false'
    #   (NEGATIVES=gathered: --same-global-batch instead of the --set)
    # a CPU check of the script itself (gloo, tiny):
    .venv/bin/python benchmarks/bench_ddp.py --recipe quickstart --pairs 2000 --dim 32 --batch-size 64 --epochs 2 --device cpu

Writes one synthetic dataset (``--pairs`` pairs of ``--dim``-d embeddings; 80% of them train), then
trains ``--recipe`` on it through ``torchrun --nproc_per_node=1`` and ``--nproc_per_node=N`` with
``--batch-size`` pairs per device (the global batch grows with N: weak scaling). Each job reports
its pairs/s as measured by the trainer inside each epoch (all ranks' pairs over the epoch's wall
time; median over epochs). Prints both figures, the speed-up and the scaling efficiency
(speed-up / N). With ``--repeats R`` the two jobs run R times, alternating, and each round's
speed-up is printed with their median, minimum and maximum: between machines the speed-up moved by
about ±0.1 (docs/distributed.md), so one pair of jobs says little about a small change. The last line
is ``scaling: <speed-up>x`` (the median over rounds).

With ``--same-global-batch`` the 1-process job trains at the N-process job's global batch (N ×
``--batch-size``; strong scaling): both jobs then take the same steps, and under a loss that gathers its
in-batch negatives from every rank (``infonce``'s default) the same loss and gradients. Without it, such
a loss scores each rank's rows against N times as many negatives as the 1-process job does, so the
N-process job does more work per pair than the job it is compared with.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def worker(args: argparse.Namespace) -> None:
    """One rank of a job (started by torchrun): train, and on rank 0 write the epochs' pairs/s."""
    import torch

    from common import QUICK_EVAL
    from jasper_core import hookimpl
    from jasper_core.distributed import leave
    from jasper_core.recipe import load_recipe
    from jasper_core.recipe.overrides import set_override
    from jasper_core.testing import plugins_with
    from jasper_core.training.trainer import Trainer

    class Speed:
        pairs_per_s: list[float] = []

        @hookimpl
        def jasper_epoch_end(self, run, epoch, metrics):
            if run.rank == 0 and epoch != args.profile_epoch:  # the profiled epoch runs slower: not a figure
                self.pairs_per_s.append(metrics["pairs_per_s"])

    class Profile:
        """With --profile-epoch: every rank profiles that epoch and writes its top kernels to --log-dir."""

        prof = None

        @hookimpl
        def jasper_epoch_start(self, run, epoch):
            if epoch == args.profile_epoch:
                activities = [torch.profiler.ProfilerActivity.CPU]
                if torch.cuda.is_available():
                    activities.append(torch.profiler.ProfilerActivity.CUDA)
                self.prof = torch.profiler.profile(activities=activities)
                self.prof.start()

        @hookimpl
        def jasper_epoch_end(self, run, epoch, metrics):
            if self.prof is None or epoch != args.profile_epoch:
                return
            self.prof.stop()
            steps = run.steps_per_epoch
            kernels = [e for e in self.prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
            busy = sum(e.device_time for e in kernels) / 1e3 / steps
            wall = metrics["epoch_seconds"] * 1e3 / steps
            head = (f"rank {run.rank} of {run.world_size}; epoch {epoch}: {steps} steps, wall {wall:.3f} ms/step "
                    f"(profiled), device kernel time {busy:.3f} ms/step, {len(kernels) / steps:.0f} kernels/step\n")
            table = self.prof.key_averages().table(sort_by="device_time_total", row_limit=30, max_name_column_width=80)
            out = Path(args.log_dir or ".") / f"profile-world{run.world_size}-rank{run.rank}.txt"
            out.write_text(head + table)
            if args.profile_trace:  # the whole epoch's timeline, for Perfetto / chrome://tracing
                self.prof.export_chrome_trace(str(out.with_name(f"trace-world{run.world_size}-rank{run.rank}.json")))
            self.prof = None

    speed = Speed()
    plugins = plugins_with(speed, Profile()) if args.profile_epoch else plugins_with(speed)
    overrides = [set_override("data.path", args.data), f"train.batch_size={args.batch_size}",
                 f"train.epochs={args.epochs}", set_override("train.device", args.device),
                 set_override("train.precision", args.precision), set_override("train.compile", args.compile),
                 f"train.cuda_graph={str(args.cuda_graph).lower()}", f"eval.every={args.epochs}",
                 *QUICK_EVAL, 'logger=[{type="console"}]', *args.set]  # the console: progress in the job's log
    recipe = load_recipe(args.recipe, plugins.registries, overrides)
    trainer = Trainer(recipe, plugins, run_dir=args.run_dir)
    trainer.fit()
    if trainer.world.is_main:
        name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
        Path(args.result).write_text(json.dumps({"pairs_per_s": speed.pairs_per_s, "device": name,
                                                 "world_size": trainer.world.size}))
    leave()  # the process group, as `jasper train` leaves it (barrier, then destroy), not to the interpreter's exit


def check_recipe(args: argparse.Namespace) -> None:
    """Refuse a recipe or ``--set`` override that does not load, in one line, before any data or job."""
    from jasper_core import load_plugins
    from jasper_core.errors import JasperError
    from jasper_core.recipe import load_recipe

    try:
        load_recipe(args.recipe, load_plugins().registries, args.set)
    except JasperError as exc:
        raise SystemExit(f"error: {exc}") from None


def batch_of(args: argparse.Namespace, procs: int) -> int:
    """The pairs per device of the ``procs``-process job (with ``--same-global-batch`` the 1-process job's is the
    larger job's global batch)."""
    return args.batch_size * args.gpus if args.same_global_batch and procs == 1 else args.batch_size


def run_job(args: argparse.Namespace, data: Path, procs: int, tmp: Path, tag: str = "") -> dict:
    """Run the ``procs``-process job; ``tag`` names this round's files (``job-{procs}{tag}.log``)."""
    result = tmp / f"result-{procs}{tag}.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}", str(HERE),
           "--worker", "--data", str(data), "--recipe", args.recipe, "--batch-size", str(batch_of(args, procs)),
           "--epochs", str(args.epochs), "--device", args.device, "--precision", args.precision, "--compile", args.compile,
           *(["--cuda-graph"] if args.cuda_graph else []),
           *(x for item in args.set for x in ("--set", item)),
           *(["--profile-epoch", str(args.profile_epoch), "--log-dir", str(args.log_dir)] if args.profile_epoch else []),
           *(["--profile-trace"] if args.profile_trace else []), "--run-dir", str(tmp / f"run-{procs}{tag}"), "--result", str(result)]
    log = (Path(args.log_dir) if args.log_dir else tmp) / f"job-{procs}{tag}.log"
    started = time.perf_counter()
    with log.open("w") as sink:  # the job's own output, as it comes (kept with --log-dir)
        try:
            code = subprocess.run(cmd, stdout=sink, stderr=subprocess.STDOUT, timeout=args.job_timeout or None).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    if code != 0:
        sys.stderr.write(log.read_text()[-6000:])
        where = f"log: {log}" if args.log_dir else "its output is above"  # without --log-dir the log goes with tmp
        raise SystemExit(f"the {procs}-process job failed ({'did not finish in %d s' % args.job_timeout if code == 'timeout' else f'exit {code}'}); {where}")
    out = json.loads(result.read_text())
    out["wall_s"] = time.perf_counter() - started
    return out


def main() -> None:
    from jasper_core.training.compiled import COMPILE_MODES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="jepa_base")
    ap.add_argument("--data", help="dataset directory (default: synthetic, --pairs x --dim)")
    ap.add_argument("--pairs", type=int, default=1_250_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--clusters", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=4096, help="pairs per device per step")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--compile", default="off", choices=COMPILE_MODES,
                    help="train.compile (the first epoch then includes the compilation)")
    ap.add_argument("--cuda-graph", action="store_true", help="train.cuda_graph: the whole step as one CUDA graph")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a recipe override for both jobs (repeatable), e.g. loss[1].gather=false")
    ap.add_argument("--profile-epoch", type=int, default=0,
                    help="profile this epoch on every rank (left out of pairs/s); each rank writes its top kernels to "
                         "--log-dir (profile-world*-rank*.txt)")
    ap.add_argument("--profile-trace", action="store_true",
                    help="with --profile-epoch: each rank also writes the epoch's Chrome trace (trace-world*-rank*.json)")
    ap.add_argument("--job-timeout", type=int, default=0, help="seconds each job may take (0: no limit)")
    ap.add_argument("--log-dir", help="keep each job's output here (job-1.log, job-N.log)")
    ap.add_argument("--gpus", type=int, default=2, help="processes of the larger job (GPUs, or CPU processes)")
    ap.add_argument("--repeats", type=int, default=1, help="run the pair of jobs this many times, alternating")
    ap.add_argument("--same-global-batch", action="store_true",
                    help="the 1-process job trains at the larger job's global batch (GPUS x --batch-size): the same "
                         "steps, and with gathered negatives the same loss (strong scaling)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--run-dir", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        from jasper_core.distributed import end_process

        worker(args)
        end_process(0)  # after leaving a gloo group: without the interpreter's finalisation (see leave())
    if args.profile_epoch and not 1 <= args.profile_epoch <= args.epochs:
        ap.error(f"--profile-epoch must name one of the {args.epochs} epochs (1 to {args.epochs})")
    if args.profile_epoch and args.epochs < 2:
        ap.error("--profile-epoch needs --epochs 2 or more: the profiled epoch is left out of the figure, so another "
                 "must run (with --compile, 3 or more: the first epoch pays the compilation)")
    if args.profile_trace and not args.profile_epoch:
        ap.error("--profile-trace needs --profile-epoch (the epoch whose trace each rank writes)")
    if args.profile_epoch and not args.log_dir:
        ap.error("--profile-epoch needs --log-dir (where each rank writes its profile)")
    if args.repeats < 1 or (args.profile_epoch and args.repeats > 1):
        ap.error("--repeats must be at least 1, and 1 with --profile-epoch")
    check_recipe(args)
    if args.log_dir:
        try:
            Path(args.log_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SystemExit(f"--log-dir {args.log_dir}: cannot create it ({exc.strerror or exc})") from None
    os.environ.setdefault("OMP_NUM_THREADS", "1" if args.device == "cpu" else "4")
    with tempfile.TemporaryDirectory(prefix="jasper-ddp-") as name:
        tmp = Path(name)
        if args.data:
            data = Path(args.data)
        else:
            sys.path.insert(0, str(HERE.parent))
            from common import synthetic_dataset_dir

            started = time.perf_counter()
            data = synthetic_dataset_dir(args.pairs, args.dim, clusters=args.clusters)
            print(f"data: {args.pairs:,} pairs, D={args.dim}, {args.clusters} clusters, written in "
                  f"{time.perf_counter() - started:.0f} s ({data})", flush=True)
        rounds = []
        try:
            for i in range(args.repeats):
                tag = f"-round{i + 1}" if args.repeats > 1 else ""
                rounds.append({n: run_job(args, data, n, tmp, tag) for n in (1, args.gpus)})
        finally:
            if not args.data:
                shutil.rmtree(data.parent, ignore_errors=True)
    report(args, rounds)


def report(args: argparse.Namespace, rounds: list[dict]) -> None:
    """Print each job's pairs/s (median over epochs), each round's speed-up and their median."""
    def name(n: int) -> str:
        return f"{n} process{'es' if n > 1 else ''}"

    median = {n: [statistics.median(jobs[n]["pairs_per_s"]) for jobs in rounds] for n in (1, args.gpus)}
    speedups = [many / one for one, many in zip(median[1], median[args.gpus])]
    batches = (f"batch {batch_of(args, 1)} in 1 process, {args.batch_size} per device in {args.gpus} (the same global batch)"
               if args.same_global_batch else f"batch {args.batch_size} per device")
    print(f"device: {rounds[0][1]['device']}; recipe {args.recipe}; {batches}; {args.precision}; "
          f"{args.epochs} epochs (median over epochs)")
    if len(rounds) == 1:
        for n in (1, args.gpus):
            per_epoch = ", ".join(f"{v:,.0f}" for v in rounds[0][n]["pairs_per_s"])
            print(f"{name(n)}: pairs/s {median[n][0]:,.0f}  (per epoch: {per_epoch}; job wall {rounds[0][n]['wall_s']:.0f} s)")
    else:
        for i, jobs in enumerate(rounds):
            print(f"round {i + 1}: {name(1)} {median[1][i]:,.0f}, {name(args.gpus)} {median[args.gpus][i]:,.0f} pairs/s: "
                  f"{speedups[i]:.2f}x")
        for n in (1, args.gpus):
            print(f"{name(n)}: pairs/s {statistics.median(median[n]):,.0f}  (median of {len(rounds)} rounds)")
        print(f"speed-up over rounds: median {statistics.median(speedups):.2f}x, min {min(speedups):.2f}x, "
              f"max {max(speedups):.2f}x")
    speedup = statistics.median(speedups)
    print(f"efficiency: {speedup / args.gpus:.1%} of linear ({args.gpus} x the 1-process figure)")
    print(f"scaling: {speedup:.2f}x")


if __name__ == "__main__":
    main()
