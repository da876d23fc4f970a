"""Does the routing drive the prediction? Test-split MRR of a trained routing model with its router,
and with the router replaced by uniform weights, over several seeds.

    .venv/bin/python benchmarks/routing_ablation.py --recipe subspace --data ~/.cache/jasper/devbench --seeds 3

Also prints routed search (top-1 routed cluster) next to the search restricted to the true cluster.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from jasper_core import Router, load_plugins
from jasper_core.evaluation.evaluate import run_evaluation
from jasper_core.recipe import load_recipe
from jasper_core.recipe.overrides import set_override
from jasper_core.training.run_dir import load_trained
from jasper_core.training.trainer import Trainer

from retrieval_ablation import mean_ci


class UniformRouter(Router):
    """Every question routed to every subspace with weight 1/C."""

    def __init__(self, num_clusters: int) -> None:
        super().__init__()
        self.num_clusters = num_clusters

    def forward(self, question, steering, state):
        weights = question.new_full((question.shape[0], self.num_clusters), 1.0 / self.num_clusters)
        return weights, torch.log(weights)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="subspace")
    ap.add_argument("--data")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    plugins = load_plugins()
    base = args.overrides + ["logger=[]"] + ([set_override("data.path", args.data)] if args.data else [])
    rows: dict[str, list[dict[str, float]]] = {"trained router": [], "uniform routing": [], "routed top-1": []}
    cluster_filtered = None
    for seed in range(args.seeds):
        recipe = load_recipe(args.recipe, plugins.registries, base + [f"train.seed={seed}"])
        with tempfile.TemporaryDirectory() as tmp:
            Trainer(recipe, plugins, run_dir=Path(tmp) / "run").fit()
            setup, _, _ = load_trained(Path(tmp) / "run", plugins)
        trained = run_evaluation(setup.model, setup.target_space, setup.dataset, setup.recipe, plugins.registries, "test")
        setup.model.router = UniformRouter(setup.dataset.num_clusters)
        uniform = run_evaluation(setup.model, setup.target_space, setup.dataset, setup.recipe, plugins.registries, "test")
        rows["trained router"].append({v: s["mrr"] for v, s in trained.model.items()})
        rows["uniform routing"].append({v: s["mrr"] for v, s in uniform.model.items()})
        rows["routed top-1"].append({v: r["top1"]["mrr"] for v, r in trained.routed.items()})
        cluster_filtered = trained.baselines["cluster_filtered"]["mrr"]
        print(f"done: seed {seed}", flush=True)
    variants = list(rows["trained router"][0])
    print(f"\n{args.recipe}, test MRR, mean ± 95% CI over {args.seeds} seed(s)")
    print(f"{'':24}" + "".join(f"{v:>18}" for v in variants))
    for name, per_seed in rows.items():
        print(f"{name:24}" + "".join(f"{mean_ci([r[v] for r in per_seed]):>18}" for v in variants))
    diffs = [{v: t[v] - u[v] for v in variants} for t, u in zip(rows["trained router"], rows["uniform routing"])]
    print(f"{'trained − uniform':24}" + "".join(f"{mean_ci([d[v] for d in diffs]):>18}" for v in variants))
    print(f"{'baseline cluster_filtered':24}{cluster_filtered:>18.3f}")


if __name__ == "__main__":
    main()
