"""Test-split retrieval of a recipe under ablations, over several seeds, next to the cosine baselines.

Each row trains the recipe with some ``--set`` overrides once per seed (``jasper train`` in a
subprocess; ``--jobs`` run side by side) and reports, as mean ± the 95% confidence half-width over
seeds (Student t):

- the best checkpoint's test score per steering variant, the baselines, and each variant's
  difference to question cosine;
- search inside the true cluster (``true_cluster``, every model) and routed search (routing models)
  with their difference to the ``cluster_filtered`` baseline (the same restriction on plain cosine);
- stability: validation score of the best epoch and of the last, and the decline between them;
- with ``--uniform-routing``: the test score with the router replaced by uniform weights, and the
  trained − uniform difference (does the routing drive the prediction?).

    .venv/bin/python benchmarks/retrieval_ablation.py --recipe quickstart --data ~/.cache/jasper/devbench --seeds 3
    .venv/bin/python benchmarks/retrieval_ablation.py --recipe subspace --row 'lr 1e-5|optim.lr=1e-5' --only 'lr 1e-5' \\
        --uniform-routing --jobs 3 --device cuda
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jasper_core.recipe.overrides import set_override

ABLATIONS = {
    "as recipe": [],
    "identity target space": ["target_space.mode=identity"],
    "infonce only": ['loss=[{type="infonce"}]'],
    "no steering gate": ["model.steering_gate=false"],
}

#: Student t quantile t(0.975, n − 1) for n = 2..10 seeds.
T975 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447, 8: 2.365, 9: 2.306, 10: 2.262}


def mean_ci(values: list[float]) -> str:
    """``"0.612 ± 0.011"`` (± the 95% half-width; no interval for one value)."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "n/a"
    m = statistics.mean(values)
    if len(values) < 2:
        return f"{m:.3f}"
    half = T975.get(len(values), 1.96) * statistics.stdev(values) / math.sqrt(len(values))
    return f"{m:.3f} ± {half:.3f}"


def parse_row(text: str) -> tuple[str, list[str]]:
    """``'NAME|key=value|key=value'`` → ``(NAME, [overrides])``."""
    name, *overrides = text.split("|")
    return name.strip(), [o.strip() for o in overrides if o.strip()]


def train_one(recipe: str, run_dir: Path, overrides: list[str], threads: int) -> Path:
    """``jasper train`` in a subprocess; returns the run directory (raises with the log tail on failure)."""
    cmd = [sys.executable, "-m", "jasper", "train", recipe, "--run-dir", str(run_dir)]
    for o in overrides:
        cmd += ["--set", o]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    log = run_dir.with_suffix(".log")
    with open(log, "w") as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if done.returncode != 0 or not (run_dir / "eval.json").is_file():
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError(f"training failed ({run_dir.name}), exit {done.returncode}:\n" + "\n".join(tail))
    return run_dir


def val_curve(run_dir: Path, metric: str, variant: str) -> list[tuple[int, float]]:
    """``[(epoch, validation score)]`` from the run's ``history.jsonl`` (eval events on the val split)."""
    out = []
    for line in (run_dir / "history.jsonl").read_text().splitlines():
        event = json.loads(line)
        key = f"model/{variant}/{metric}"
        if event.get("event") == "eval" and event.get("split") == "val" and key in event:
            out.append((int(event["epoch"]), float(event[key])))
    return out


def last_logged(run_dir: Path, key: str) -> float | None:
    """The last epoch event's value of ``key`` in ``history.jsonl`` (None when never logged)."""
    value = None
    for line in (run_dir / "history.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "epoch" and key in event:
            value = float(event[key])
    return value


def uniform_routing_scores(run_dir: Path, metric: str) -> dict[str, float] | None:
    """Test score per variant of the run's best checkpoint with its router replaced by uniform weights."""
    import torch

    from jasper_core import Router, load_plugins
    from jasper_core.evaluation.evaluate import run_evaluation
    from jasper_core.training.run_state import load_trained

    class UniformRouter(Router):
        def __init__(self, num_clusters: int) -> None:
            super().__init__()
            self.num_clusters = num_clusters

        def forward(self, question, steering, state):
            weights = question.new_full((question.shape[0], self.num_clusters), 1.0 / self.num_clusters)
            return weights, torch.log(weights)

    plugins = load_plugins()
    setup, _, _ = load_trained(run_dir, plugins)
    if getattr(setup.model, "router", None) is None:
        return None
    setup.model.router = UniformRouter(setup.dataset.num_clusters)
    results = run_evaluation(setup.model, setup.target_space, setup.dataset, setup.recipe, plugins.registries, "test")
    return {v: results.score(metric, v) for v in results.model}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="quickstart")
    ap.add_argument("--data", help="dataset directory (default: the recipe's)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--row", action="append", default=[], help="extra row 'NAME|key=value|...'")
    ap.add_argument("--only", nargs="*", help="names of rows to run (default: all)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra override for every row")
    ap.add_argument("--device", help="train.device for every run (cpu, cuda)")
    ap.add_argument("--jobs", type=int, default=1, help="runs side by side")
    ap.add_argument("--out", help="keep the run directories here (default: a temporary directory)")
    ap.add_argument("--metric", default="mrr")
    ap.add_argument("--variant", default="zero", help="steering variant whose validation curve judges stability")
    ap.add_argument("--uniform-routing", action="store_true", help="also evaluate routing models with a uniform router")
    ap.add_argument("--show", action="append", default=[], help="a logged figure (e.g. routing_entropy/sample_entropy) "
                    "to print at the last epoch")
    args = ap.parse_args()

    rows = dict(ABLATIONS, **dict(parse_row(r) for r in args.row))
    rows = {k: v for k, v in rows.items() if not args.only or k in args.only}
    base = args.overrides + ['logger=[{type="jsonl"}]']
    base += [set_override("data.path", args.data)] if args.data else []
    base += [set_override("train.device", args.device)] if args.device else []
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="jasper-ablation-"))
    out.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // max(args.jobs, 1))
    jobs = [(name, seed) for name in rows for seed in range(args.seeds)]
    started = time.perf_counter()

    def run(job):
        name, seed = job
        run_dir = out / f"{name.replace(' ', '_').replace('/', '_')}-seed{seed}"
        train_one(args.recipe, run_dir, base + rows[name] + [f"train.seed={seed}"], threads)
        print(f"done: {name}, seed {seed} ({time.perf_counter() - started:.0f} s)", flush=True)
        return job, run_dir

    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        run_dirs = dict(pool.map(run, jobs))
    report(args, rows, run_dirs)
    print(f"\nrun directories: {out}")


def report(args, rows: dict, run_dirs: dict) -> None:
    from jasper_core import EvalResults

    m = args.metric
    results = {name: [EvalResults.from_dict(json.loads((run_dirs[(name, s)] / "eval.json").read_text()))
                      for s in range(args.seeds)] for name in rows}
    first = next(iter(results.values()))[0]
    variants = list(first.model)
    head = f"{'':34}" + "".join(f"{v:>18}" for v in variants)
    print(f"\n{args.recipe}, test split ({first.num_queries} queries, corpus {first.corpus_size}), {m}, "
          f"{args.seeds} seed(s): mean ± 95% CI over seeds\n{head}")
    for name, rs in results.items():
        print(f"{name:34}" + "".join(f"{mean_ci([r.score(m, v) for r in rs]):>18}" for v in variants))
    for b in first.baselines:
        print(f"{'baseline ' + b:34}{first.baselines[b][m]:>18.3f}   recall@1 {first.baselines[b]['recall@1']:.3f}")

    print(f"\ndifference to question_cosine ({m})\n{head}")
    for name, rs in results.items():
        cells = [mean_ci([r.score(m, v) - r.baselines["question_cosine"][m] for r in rs]) for v in variants]
        print(f"{name:34}" + "".join(f"{c:>18}" for c in cells))

    print(f"\nrestricted searches, and their difference to cluster_filtered ({m}; recall@1)\n{head}")
    for name, rs in results.items():
        for kind in rs[0].routed.get(variants[0], {}):
            for metric in (m, "recall@1"):
                vals = [mean_ci([r.routed[v][kind][metric] for r in rs]) for v in variants]
                diff = [mean_ci([r.routed[v][kind][metric] - r.baselines["cluster_filtered"][metric] for r in rs])
                        for v in variants]
                print(f"{(name + ' · ' + kind + ' ' + metric)[:34]:34}" + "".join(f"{c:>18}" for c in vals))
                print(f"{'   − cluster_filtered':34}" + "".join(f"{c:>18}" for c in diff))

    print(f"\nstability: validation {m} ({args.variant} steering) at the best epoch and the last")
    print(f"{'':34}{'best':>18}{'last':>18}{'best − last':>18}   best epochs")
    for name in rows:
        curves = [val_curve(run_dirs[(name, s)], m, args.variant) for s in range(args.seeds)]
        best = [max(v for _, v in c) for c in curves if c]
        last = [c[-1][1] for c in curves if c]
        epochs = [max(c, key=lambda ev: ev[1])[0] for c in curves if c]
        print(f"{name:34}{mean_ci(best):>18}{mean_ci(last):>18}{mean_ci([b - l for b, l in zip(best, last)]):>18}"
              f"   {epochs} of {[c[-1][0] for c in curves if c]}")

    if args.show:
        print(f"\nlogged at the last epoch (training batches)\n{'':34}" + "".join(f"{k[-24:]:>26}" for k in args.show))
        for name in rows:
            cells = [mean_ci([last_logged(run_dirs[(name, s)], k) for s in range(args.seeds)]) for k in args.show]
            print(f"{name:34}" + "".join(f"{c:>26}" for c in cells))

    if args.uniform_routing:
        print(f"\nuniform routing (router replaced by 1/C weights), test {m}\n{head}")
        for name in rows:
            uniform = [uniform_routing_scores(run_dirs[(name, s)], m) for s in range(args.seeds)]
            if any(u is None for u in uniform):
                print(f"{name:34}  (not a routing model)")
                continue
            rs = results[name]
            print(f"{name + ' · uniform':34}" + "".join(f"{mean_ci([u[v] for u in uniform]):>18}" for v in variants))
            print(f"{name + ' · trained − uniform':34}"
                  + "".join(f"{mean_ci([r.score(m, v) - u[v] for r, u in zip(rs, uniform)]):>18}" for v in variants))


if __name__ == "__main__":
    main()
