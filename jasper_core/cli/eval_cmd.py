"""``jasper eval CHECKPOINT|RUN_DIR``: retrieval metrics of a trained model next to the baselines."""

from __future__ import annotations

import argparse
from pathlib import Path

from jasper_core.cli.common import stdout
from jasper_core.contracts import SPLITS
from jasper_core.errors import WriteError
from jasper_core.evaluation.evaluate import run_evaluation
from jasper_core.evaluation.report import eval_table, routing_summary, verdict
from jasper_core.training.run_dir import RunDir
from jasper_core.training.run_state import load_trained


def run(args: argparse.Namespace, plugins) -> int:
    path = RunDir.find_checkpoint(args.checkpoint, "best")
    run_dir = RunDir.of_checkpoint(path)
    out = Path(args.out) if args.out else run_dir.eval_file(args.split)
    run_dir.check_output(out)  # before the evaluation, so a bad --out costs nothing
    setup, _, path = load_trained(path, plugins, data=args.data)
    results = run_evaluation(setup.model, setup.target_space, setup.dataset, setup.recipe, plugins.registries, args.split)
    results.checkpoint = str(path)
    section = setup.recipe.eval
    stdout.print(eval_table(results))  # printed before writing: a failed write loses nothing computed
    stdout.print(verdict(results, section.best_metric, section.best_variant), soft_wrap=True)
    if routing_summary(results):
        stdout.print(routing_summary(results), soft_wrap=True)
    try:
        out = run_dir.write_eval(results, out)
    except WriteError as exc:
        raise WriteError(f"{exc}; the results are printed above, or pass --out FILE to write them elsewhere") from None
    stdout.print(f"written: {out}", markup=False)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint: Recall@k / MRR / nDCG@10 next to the baselines")
    p.add_argument("checkpoint", help="a checkpoint file or a run directory (uses its best checkpoint)")
    p.add_argument("--data", metavar="DIR", help="evaluate on this dataset directory instead of the recipe's")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--out", metavar="FILE", help="where to write the JSON (default RUN_DIR/eval-<split>.json)")
    p.set_defaults(handler=run)
