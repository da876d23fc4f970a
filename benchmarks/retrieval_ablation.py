"""Test-split retrieval of the quickstart recipe under ablations, next to the cosine baselines.

Each row trains the quickstart recipe with some ``--set`` overrides and reports the best
checkpoint's test MRR / R@10 per steering variant (the same numbers ``eval.json`` holds).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from jasper_core import load_plugins
from jasper_core.recipe import load_recipe
from jasper_core.training.trainer import Trainer

ABLATIONS = {
    "quickstart (residual, EMA target, 4 losses, gate)": [],
    "no residual form": ["model.residual=false"],
    "no steering gate": ["model.steering_gate=false"],
    "identity target space": ["target_space.mode=identity"],
    "infonce only": ['loss=[{type="infonce"}]'],
    "lr 1e-3": ["optim.lr=1e-3"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--recipe", default="quickstart")
    ap.add_argument("--only", nargs="*", help="names of ablations to run (default: all)")
    args = ap.parse_args()
    plugins = load_plugins()
    rows = []
    for name, overrides in ABLATIONS.items():
        if args.only and name not in args.only:
            continue
        recipe = load_recipe(args.recipe, plugins.registries, overrides + ['logger=[]'])
        with tempfile.TemporaryDirectory() as tmp:
            r = Trainer(recipe, plugins, run_dir=Path(tmp) / "run").fit()
        rows.append((name, r))
        print(f"done: {name}", flush=True)
    base = rows[0][1]["baselines"]
    print(f"\n{args.recipe}, test split ({rows[0][1]['num_queries']} queries, corpus {rows[0][1]['corpus_size']}); MRR / R@10")
    print(f"{'':52} {'zero':>13} {'centroid':>13} {'keyword':>13} {'residual':>13}")
    for name, r in rows:
        cells = " ".join(f"{m['mrr']:.3f}/{m['recall@10']:.3f}".rjust(13) for m in r["model"].values())
        print(f"{name:52} {cells}")
    for b in ("question_cosine", "cluster_filtered"):
        print(f"{'baseline ' + b:52} {base[b]['mrr']:.3f}/{base[b]['recall@10']:.3f}".rstrip())


if __name__ == "__main__":
    main()
