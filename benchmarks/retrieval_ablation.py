"""Test-split retrieval of a recipe under ablations, over several seeds, next to the cosine baselines.

Each row trains the recipe with some ``--set`` overrides once per seed and reports the best
checkpoint's test MRR per steering variant as mean ± the 95% confidence half-width over seeds
(Student t), then the baselines; a last block gives each variant's difference to question cosine
(mean over seeds ± CI). A change is judged by more than one seed.

    .venv/bin/python benchmarks/retrieval_ablation.py --recipe quickstart --data ~/.cache/jasper/devbench --seeds 3
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
from pathlib import Path

from jasper_core import load_plugins
from jasper_core.recipe import load_recipe
from jasper_core.recipe.overrides import set_override
from jasper_core.training.trainer import Trainer

ABLATIONS = {
    "as recipe": [],
    "identity target space": ["target_space.mode=identity"],
    "infonce only": ['loss=[{type="infonce"}]'],
    "no steering gate": ["model.steering_gate=false"],
    "lr / 3": [],  # filled in from the recipe's lr
}

#: Student t quantile t(0.975, n − 1) for n = 2..10 seeds.
T975 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447, 8: 2.365, 9: 2.306, 10: 2.262}


def mean_ci(values: list[float]) -> str:
    """``"0.612 ± 0.011"`` (± the 95% half-width; no interval for one value)."""
    m = statistics.mean(values)
    if len(values) < 2:
        return f"{m:.3f}"
    half = T975.get(len(values), 1.96) * statistics.stdev(values) / math.sqrt(len(values))
    return f"{m:.3f} ± {half:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="quickstart")
    ap.add_argument("--data", help="dataset directory (default: the recipe's)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", nargs="*", help="names of ablations to run (default: all)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra override for every row")
    ap.add_argument("--metric", default="mrr")
    args = ap.parse_args()
    plugins = load_plugins()
    base = args.overrides + (["logger=[]"] + ([set_override("data.path", args.data)] if args.data else []))
    lr = load_recipe(args.recipe, plugins.registries, base).optim.lr
    ablations = dict(ABLATIONS, **{"lr / 3": [f"optim.lr={lr / 3:g}"]})
    rows: dict[str, list] = {}
    for name, overrides in ablations.items():
        if args.only and name not in args.only:
            continue
        for seed in range(args.seeds):
            recipe = load_recipe(args.recipe, plugins.registries, base + overrides + [f"train.seed={seed}"])
            with tempfile.TemporaryDirectory() as tmp:
                rows.setdefault(name, []).append(Trainer(recipe, plugins, run_dir=Path(tmp) / "run").fit())
            print(f"done: {name}, seed {seed}", flush=True)
    first = next(iter(rows.values()))[0]
    variants = list(first.model)
    m = args.metric
    print(f"\n{args.recipe}, test split ({first.num_queries} queries, corpus {first.corpus_size}), {m}, "
          f"{args.seeds} seed(s): mean ± 95% CI over seeds")
    print(f"{'':32}" + "".join(f"{v:>18}" for v in variants))
    for name, results in rows.items():
        print(f"{name:32}" + "".join(f"{mean_ci([r.score(m, v) for r in results]):>18}" for v in variants))
    for b in first.baselines:
        print(f"{'baseline ' + b:32}{first.baselines[b][m]:>18.3f}")
    print(f"\ndifference to question_cosine ({m}), mean ± 95% CI over seeds")
    for name, results in rows.items():
        cells = [mean_ci([r.score(m, v) - r.baselines['question_cosine'][m] for r in results]) for v in variants]
        print(f"{name:32}" + "".join(f"{c:>18}" for c in cells))
    if first.routed:
        print(f"\nrouted search ({m}): top-1 routed clusters / soft re-weighting, mean ± CI over seeds")
        for name, results in rows.items():
            for kind in first.routed[variants[0]]:
                cells = [mean_ci([r.routed[v][kind][m] for r in results]) for v in variants]
                print(f"{name + ' · ' + kind:32}" + "".join(f"{c:>18}" for c in cells))


if __name__ == "__main__":
    main()
