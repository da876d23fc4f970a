"""``jasper search MODEL_DIR --corpus corpus.jsonl --question TEXT``: ranked sources from an exported model."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys

from jasper_core.cli.common import stdout
from jasper_core.errors import JasperError
from jasper_core.inference.corpus_file import index_file, read_questions
from jasper_core.inference.model import JasperModel, Keywords

log = logging.getLogger("jasper.cli")


def _questions(args: argparse.Namespace) -> tuple[list[str], object]:
    """Labels and model inputs of the questions: ``--question`` text, or a file (plain text lines or JSONL)."""
    if args.question is not None:
        return [args.question], [args.question]
    return read_questions(args.questions)


def attach_corpus(model: JasperModel, args: argparse.Namespace) -> None:
    """The corpus to search: ``--index DIR``, else ``--corpus FILE`` (through the cache), else the model's ``index/``."""
    if args.index is not None:
        model.load_index(args.index, backend=args.backend)
        log.info("index %s: %d sources", args.index, model.corpus.index.size)
    elif args.corpus is not None:
        index_file(model, args.corpus, backend=args.backend, cache=not args.no_cache)
    elif model.corpus is None:
        raise JasperError(f"{args.model}: this model directory has no index/; give --corpus FILE or --index DIR")
    if args.save_index is not None:
        log.info("index written: %s", model.save_index(args.save_index))


def run(args: argparse.Namespace, plugins) -> int:
    labels, questions = _questions(args)
    hint = args.cluster if args.cluster is not None else Keywords(args.keywords) if args.keywords is not None else None
    # Libraries loaded here (sentence-transformers) may print to stdout; keep stdout for the results.
    with contextlib.redirect_stdout(sys.stderr):
        model = JasperModel.load(args.model, plugins=plugins)
        if args.cluster is not None:
            model.cluster_index(args.cluster)  # an unknown name fails before the corpus is encoded
        attach_corpus(model, args)
        q = model.queries(questions)  # embedded once for routing and search
        out = model.forward(q, steering=hint)  # one forward pass (and one embedding of --keywords) for both
        results = model.search_output(out, k=args.k, routed_top_m=args.routed_top_m)
        weights, top = model.routing_of(out).max(dim=1)
    for label, hits, w, c in zip(labels, results, weights.tolist(), top.tolist()):
        routed = {"routed_cluster": model.cluster_names[c], "routing_weight": round(w, 4)}
        if args.json:
            print(json.dumps({"question": label, **routed, "results": hits}))
            continue
        stdout.print(f"question: {label}   (routed to {routed['routed_cluster']}, weight {w:.2f})",
                     highlight=False, markup=False, soft_wrap=True)
        for rank, h in enumerate(hits, 1):
            text = h.get("text", "")
            snippet = f"  {text[:100]}{'…' if len(text) > 100 else ''}" if text else ""
            stdout.print(f"  {rank:>3}. {h['score']:.4f}  [{h['cluster']}]  {h['id']}{snippet}", highlight=False, markup=False)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("search", help="rank a JSONL corpus for questions with an exported model")
    p.add_argument("model", metavar="MODEL_DIR", help="a model directory written by `jasper export`")
    c = p.add_mutually_exclusive_group()
    c.add_argument("--corpus", metavar="FILE",
                   help='JSONL, one source a line: {"id": ..., "text": "..."} or {"id": ..., "embedding": [...]}, '
                        'optionally "cluster": NAME; encoded once, then read from the cache')
    c.add_argument("--index", metavar="DIR", help="search an index directory (written by --save-index)")
    q = p.add_mutually_exclusive_group(required=True)
    q.add_argument("--question", metavar="TEXT", help="one question")
    q.add_argument("--questions", metavar="FILE",
                   help='one question a line, or .jsonl lines {"question": "..."} / {"embedding": [...]}')
    h = p.add_mutually_exclusive_group()
    h.add_argument("--cluster", metavar="NAME", help="steer with this cluster (a topic hint)")
    h.add_argument("--keywords", metavar="TEXT", help="steer with these keywords (embedded)")
    p.add_argument("--k", type=int, default=10, help="results per question (default 10)")
    p.add_argument("--routed-top-m", type=int, metavar="M", help="only sources of the router's top-M clusters")
    p.add_argument("--backend", choices=("auto", "faiss", "torch"), default="auto",
                   help="search with FAISS (IVF lists = clusters) or torch; auto: FAISS when installed")
    p.add_argument("--save-index", metavar="DIR", help="also write the encoded corpus as an index directory")
    p.add_argument("--no-cache", action="store_true", help="encode the corpus even if it is cached, and cache nothing")
    p.add_argument("--json", action="store_true",
                   help='one JSON line per question: {"question", "routed_cluster", "routing_weight", "results": [...]}')
    p.set_defaults(handler=run)
