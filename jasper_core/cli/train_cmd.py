"""``jasper train RECIPE``: train, evaluate against the baselines, checkpoint, resume.

Several devices or hosts: ``torchrun --nproc_per_node=N -m jasper train RECIPE ...`` (docs/distributed.md).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from jasper_core import distributed
from jasper_core.cli.common import add_recipe_arguments, recipe_overrides
from jasper_core.errors import JasperError
from jasper_core.recipe import load_recipe
from jasper_core.training.assemble import resolve_device
from jasper_core.training.trainer import Trainer


def default_run_dir(recipe_arg: str) -> Path:
    stem = Path(recipe_arg).stem if recipe_arg.endswith(".toml") else recipe_arg
    return Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"  # two jobs in one second differ


def run(args: argparse.Namespace, plugins) -> int:
    recipe = load_recipe(args.recipe, plugins.registries, recipe_overrides(args))
    world = distributed.join(resolve_device(recipe.train.device))  # under torchrun: every rank, one job
    try:
        run_dir = Path(args.run_dir) if args.run_dir else distributed.from_main(lambda: default_run_dir(args.recipe), world)
        trainer = Trainer(recipe, plugins, run_dir=run_dir, recipe_name=args.recipe, resume=args.resume)
        trainer.fit()
    except JasperError as exc:
        if world.distributed:  # say which rank failed; this rank exits with it and torchrun stops the others
            exc.args = (f"rank {world.rank}: {exc}", *exc.args[1:])
        raise
    distributed.leave()
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a recipe; prints retrieval next to the cosine baselines")
    add_recipe_arguments(p)
    p.add_argument("--run-dir", metavar="DIR", help="run directory (default runs/<recipe>-<time>); never overwritten")
    p.add_argument("--resume", metavar="auto|PATH", help="continue from RUN_DIR/checkpoints/last.pt (auto) or a checkpoint")
    p.set_defaults(handler=run)
