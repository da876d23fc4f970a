"""``jasper eval CHECKPOINT|RUN_DIR``: retrieval metrics of a trained model next to the baselines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jasper_core.cli.common import stdout
from jasper_core.evaluation.context import run_evaluation
from jasper_core.evaluation.report import eval_table, routing_summary, verdict
from jasper_core.training.restore import load_trained


def run(args: argparse.Namespace, plugins) -> int:
    setup, ckpt, path = load_trained(args.checkpoint, plugins, data=args.data)
    results = run_evaluation(setup.model, setup.target, setup.dataset, setup.recipe, plugins.registries, args.split)
    results["checkpoint"] = str(path)
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    out = Path(args.out) if args.out else run_dir / f"eval-{args.split}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    stdout.print(eval_table(results))
    stdout.print(verdict(results), soft_wrap=True)
    if routing_summary(results):
        stdout.print(routing_summary(results), soft_wrap=True)
    stdout.print(f"written: {out}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint: Recall@k / MRR / nDCG@10 next to the baselines")
    p.add_argument("checkpoint", help="a checkpoint file or a run directory (uses its best checkpoint)")
    p.add_argument("--data", metavar="DIR", help="evaluate on this dataset directory instead of the recipe's")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--out", metavar="FILE", help="where to write the JSON (default RUN_DIR/eval-<split>.json)")
    p.set_defaults(handler=run)
