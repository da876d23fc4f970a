"""``jasper check RECIPE``: validate, build every component, run one batch. Writes nothing."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from rich.markup import escape

from jasper_core.cli.common import add_recipe_arguments, recipe_overrides, stdout
from jasper_core.errors import NonFiniteLossError
from jasper_core.recipe import load_recipe
from jasper_core.training.assemble import assemble
from jasper_core.training.batches import epoch_batches
from jasper_core.training.step import compute_losses


def run(args: argparse.Namespace, plugins) -> int:
    recipe = load_recipe(args.recipe, plugins.registries, recipe_overrides(args))
    stdout.print(f"recipe {escape(args.recipe)}: valid")
    setup = assemble(recipe, plugins.registries)
    ds = setup.dataset
    stdout.print(f"dataset: {ds.dim}-d, {ds.num_clusters} clusters, {ds.sources.shape[0]} sources, "
                 f"splits train/val/test = {len(ds.split('train'))}/{len(ds.split('val'))}/{len(ds.split('test'))}")
    with tempfile.TemporaryDirectory() as tmp:
        for comp in recipe.logger:
            comp.build(plugins.registries, run_dir=Path(tmp))
    recipe.eval.metric.build(plugins.registries)
    gen = torch.Generator().manual_seed(recipe.train.seed)
    probs = setup.curriculum(0, 1)
    batch = next(epoch_batches(ds, ds.split("train"), recipe.train.batch_size, generator=gen, variant_probs=probs,
                               drop_last=False))
    setup.model.train()
    total, parts, pred = compute_losses(setup, batch, step=0, total_steps=1)
    total.backward()
    total = total.detach()
    grads = [p.grad.norm() for p in setup.model.parameters() if p.grad is not None]
    grad_norm = float(torch.stack(grads).norm()) if grads else 0.0
    stdout.print(f"one batch: question {list(batch.question.shape)}, negatives {list(batch.negatives.shape)} "
                 f"→ prediction {list(pred.prediction.shape)}")
    stdout.print("losses: " + ", ".join(f"{k}={float(v.detach()):.4f}" for k, v in parts.items()) + f"; total={float(total):.4f}; grad norm {grad_norm:.4f}")
    bad = next((name for name, v in (*parts.items(), ("total", total)) if not bool(torch.isfinite(v).all())), None)
    if bad is not None:
        raise NonFiniteLossError(f"loss term {bad!r} is not finite on the first batch; check its settings "
                                 "(a temperature, a weight) and the learning rate")
    stdout.print("[green]ok[/]")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="validate a recipe, build every component and run one batch (writes nothing)")
    add_recipe_arguments(p)
    p.set_defaults(handler=run)
