"""``jasper explain CHECKPOINT|RUN_DIR --question "text"``: a readable explanation of one prediction;
``--questions FILE`` explains many with the model, its dataset and the embedding model loaded once."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path

import torch
from rich.markup import escape

from jasper_core import hookimpl
from jasper_core.contracts.steering import SteeringInputs, steering
from jasper_core.errors import JasperError
from jasper_core.training.run_state import load_trained
from jasper_plugins.xai.explainer import XAI

log = logging.getLogger("jasper.xai")


def _embedder(setup):
    from jasper_plugins.data.builder import DEFAULT_MODEL, sentence_transformer_embedder

    name = setup.dataset.meta.get("model_name", DEFAULT_MODEL)
    if name in ("synthetic", "custom"):
        raise JasperError(f"this dataset's embeddings came from {name!r}, not a text model, so text cannot be embedded for it")
    return sentence_transformer_embedder(name, progress=False)


def _steering(args, setup, embed, q: torch.Tensor) -> tuple[torch.Tensor | None, str]:
    """The steering hint ``[D]`` asked for on the command line (the variants' own formulas)."""
    ds = setup.dataset
    if args.steering_cluster:
        if args.steering_cluster not in ds.cluster_names:
            from jasper_core.suggest import did_you_mean

            raise JasperError(f"unknown cluster {args.steering_cluster!r}{did_you_mean(args.steering_cluster, ds.cluster_names)}; "
                              f"clusters: {', '.join(ds.cluster_names)}")
        c = ds.centroids[ds.cluster_names.index(args.steering_cluster)]
        hint = steering("centroid", SteeringInputs(question=q[None], centroid=c[None]))[0]
        return hint, f"cluster '{args.steering_cluster}' (centroid direction, a topic hint)"
    if args.steering_text:
        hint = steering("keyword", SteeringInputs(question=q[None], keywords=embed([args.steering_text]).to(q)))[0]
        return hint, f"text {args.steering_text!r} (keyword-weighted)"
    return None, "none"


def bar(value: float, width: int = 24) -> str:
    return "█" * max(int(round(value * width)), 0)


def _questions(args) -> list[str]:
    if args.question is not None:
        return [args.question]
    from jasper_core.inference.corpus_file import read_questions

    _, inputs = read_questions(args.questions)
    if not all(isinstance(q, str) for q in inputs):
        raise JasperError(f"{args.questions}: jasper explain takes question texts, not embeddings")
    return list(inputs)


def _figure_path(figure: str, index: int, total: int) -> Path:
    """``--figure FILE`` for one question; ``FILE-<n>.png`` (n from 1) in batch mode."""
    path = Path(figure)
    return path if total == 1 else path.with_name(f"{path.stem}-{index + 1}{path.suffix or '.png'}")


def run(args: argparse.Namespace, plugins) -> int:
    from jasper_core.console import make_console
    from jasper_core.progress import Progress

    console = make_console()
    questions = _questions(args)
    # Libraries loaded here (sentence-transformers, transformers) may print to stdout; keep
    # stdout for the explanation alone so `--json` output stays parseable.
    with contextlib.redirect_stdout(sys.stderr):
        setup, _, path = load_trained(args.checkpoint, plugins, data=args.data)
        embed = _embedder(setup)
        embedded = embed(questions).to(setup.device)  # [N, D], the model and the embedder loaded once
        xai = XAI(setup.model, setup.target_space, setup.dataset)
    progress = Progress(log, "explaining questions", len(questions))
    for i, (question, q) in enumerate(zip(questions, embedded)):
        with contextlib.redirect_stdout(sys.stderr):
            steering, described = _steering(args, setup, embed, q)
            e = xai.explain_prediction(q, steering)
        figure = _figure_path(args.figure, i, len(questions)) if args.figure else None
        if figure is not None:
            from jasper_plugins.xai.figure import explanation_figure

            explanation_figure(e, figure, title=f"{question}\n{e['actionable_signal']}")
        if args.json:
            text = XAI.to_json(e)
            print(text if args.question is not None else json.dumps({"question": question, **json.loads(text)}))
        else:
            _report(console, question, described, path, e, figure)
        if len(questions) > 1:
            progress.update(i + 1)
    return 0


def _report(console, question: str, described: str, path, e: dict, figure: Path | None) -> None:
    console.print(f"[bold]question[/]: {escape(question)}")
    console.print(f"[bold]steering[/]: {escape(str(described))}   (model: {escape(str(path))})")
    console.print(f"[bold]routed to[/]: {e['primary_subspace']} (confidence {e['confidence']:.2f}, {e['routing_source'].replace('_', ' ')})")
    for name, w in list(e["routing_distribution"].items())[:5]:
        console.print(f"  {w:5.2f} {bar(w)} {name}", highlight=False)
    infl = e["steering_influence"]
    console.print(f"[bold]steering influence[/]: routing KL {infl['kl']:.3f} nats, prediction shift {infl['l2_shift']:.3f}")
    t = e["typical_atypicality"]
    console.print(f"[bold]atypicality[/]: {e['atypicality']:.3f} (training questions: {t['mean']:.3f} ± {t['std']:.3f}); "
                  f"coarse norm {e['coarse_norm']:.2f}")
    console.print("[bold]similar known questions[/]:")
    for p in e["similar_pairs"]:
        console.print(f"  {p['similarity']:.2f} [{p['cluster']}] {p.get('question', '#' + str(p['pair']))}", highlight=False, markup=False)
    console.print("[bold]top sources[/]:")
    for i, s in enumerate(e["top_sources"], 1):
        text = s.get("text", f"source #{s['source']}")
        console.print(f"  {i}. {s['similarity']:.2f} [{s['cluster']}] {text[:110]}{'…' if len(text) > 110 else ''}", highlight=False, markup=False)
    console.print(f"[bold]signal[/]: {e['actionable_signal']}", soft_wrap=True)
    if figure:
        console.print(f"figure: {figure}", markup=False)


@hookimpl
def jasper_add_commands(subparsers):
    p = subparsers.add_parser("explain", help="explain a trained model's prediction for a text question")
    p.add_argument("checkpoint", help="a checkpoint file or a run directory")
    q = p.add_mutually_exclusive_group(required=True)
    q.add_argument("--question", help="the question text")
    q.add_argument("--questions", metavar="FILE",
                   help='many questions, one a line (or .jsonl lines {"question": "..."}); the model is loaded once')
    group = p.add_mutually_exclusive_group()
    group.add_argument("--steering-cluster", metavar="NAME", help="steer toward this cluster (by name)")
    group.add_argument("--steering-text", metavar="TEXT", help="steer with this text (e.g. keywords)")
    p.add_argument("--data", metavar="DIR", help="the dataset directory, if not the one in the recipe")
    p.add_argument("--json", action="store_true", help="print the explanation as JSON (with --questions: one line each)")
    p.add_argument("--figure", metavar="FILE", help="write the three-panel PNG figure (with --questions: FILE-1.png, ...)")
    p.set_defaults(handler=run)
