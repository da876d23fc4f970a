"""``jasper export RUN_DIR|CHECKPOINT --out MODEL_DIR``: a self-contained model directory for ``jasper.load``."""

from __future__ import annotations

import argparse

from jasper_core.cli.common import stdout
from jasper_core.inference.export import export_model


def run(args: argparse.Namespace, plugins) -> int:
    out, config = export_model(args.run, args.out, plugins, prefer=args.checkpoint, data=args.data)
    ck = config["checkpoint"]
    stdout.print(f"exported {ck['file']} (epoch {ck['epoch']}, step {ck['step']}) to {out}: "
                 "model.safetensors, config.json, README.md", highlight=False, soft_wrap=True, markup=False)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a trained model as a model directory (weights, config, model card)")
    p.add_argument("run", metavar="RUN_DIR|CHECKPOINT", help="a run directory or a checkpoint file")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="the model directory to create (must not hold anything)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which checkpoint of a run directory")
    p.add_argument("--data", metavar="DIR", help="the training dataset directory, if not the one in the recipe")
    p.set_defaults(handler=run)
