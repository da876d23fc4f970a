"""``jasper search MODEL_DIR --corpus corpus.jsonl --question TEXT``: ranked sources from an exported model."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from jasper_core.cli.common import stdout
from jasper_core.errors import JasperError
from jasper_core.inference.model import JasperModel, Keywords


def read_jsonl(path: str | Path, what: str, fields: tuple[str, ...], id_required: bool) -> list[dict[str, Any]]:
    """Records of a JSONL file; each needs one of ``fields`` (``"text"``/``"question"`` or ``"embedding"``).

    Raises:
        JasperError: one line naming the file (and line) of a missing file, bad JSON or a missing field.
    """
    path = Path(path)
    if not path.is_file():
        raise JasperError(f"{path}: {what} file not found")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            rec = json.loads(line)
        except ValueError as exc:
            raise JasperError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(rec, dict):
            raise JasperError(f"{where}: expected a JSON object")
        if id_required and "id" not in rec:
            raise JasperError(f'{where}: no "id"')
        if not any(f in rec for f in fields):
            raise JasperError(f"{where}: needs {' or '.join(repr(f) for f in fields)}")
        if "embedding" in rec and not (isinstance(rec["embedding"], list) and rec["embedding"]
                                       and all(isinstance(v, (int, float)) for v in rec["embedding"])):
            raise JasperError(f'{where}: "embedding" must be a list of numbers')
        records.append(rec)
    if not records:
        raise JasperError(f"{path}: no {what} records")
    kinds = {"embedding" in r for r in records}
    if len(kinds) > 1:
        raise JasperError(f'{path}: mixes records with "embedding" and without; use one kind')
    return records


def _inputs(records: list[dict[str, Any]], text_key: str) -> Any:
    if "embedding" in records[0]:
        return [r["embedding"] for r in records]
    return [str(r[text_key]) for r in records]


def _questions(args: argparse.Namespace) -> tuple[list[str], Any]:
    """Labels and model inputs of the questions: ``--question`` text, or a file (plain text lines or JSONL)."""
    if args.question is not None:
        return [args.question], [args.question]
    path = Path(args.questions)
    if path.suffix == ".jsonl":
        recs = read_jsonl(path, "questions", ("question", "embedding"), id_required=False)
        labels = [str(r.get("question", r.get("id", i))) for i, r in enumerate(recs)]
        return labels, _inputs(recs, "question")
    if not path.is_file():
        raise JasperError(f"{path}: questions file not found")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise JasperError(f"{path}: no questions")
    return lines, lines


def run(args: argparse.Namespace, plugins) -> int:
    corpus = read_jsonl(args.corpus, "corpus", ("text", "embedding"), id_required=True)
    labels, questions = _questions(args)
    hint = args.cluster if args.cluster is not None else Keywords(args.keywords) if args.keywords is not None else None
    # Libraries loaded here (sentence-transformers) may print to stdout; keep stdout for the results.
    with contextlib.redirect_stdout(sys.stderr):
        model = JasperModel.load(args.model)
        if args.cluster is not None:
            model.cluster_index(args.cluster)  # an unknown name fails before the corpus is encoded
        model.index(_inputs(corpus, "text"), ids=[r["id"] for r in corpus])
        results = model.search(questions, k=args.k, steering=hint, routed_top_m=args.routed_top_m)
    if args.json:
        for label, hits in zip(labels, results):
            print(json.dumps({"question": label, "results": hits}))
        return 0
    texts = {str(r["id"]): str(r["text"]) for r in corpus if "text" in r}
    for label, hits in zip(labels, results):
        stdout.print(f"question: {label}", highlight=False, markup=False, soft_wrap=True)
        for rank, h in enumerate(hits, 1):
            text = texts.get(str(h["id"]), "")
            snippet = f"  {text[:100]}{'…' if len(text) > 100 else ''}" if text else ""
            stdout.print(f"  {rank:>3}. {h['score']:.4f}  [{h['cluster']}]  {h['id']}{snippet}", highlight=False, markup=False)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("search", help="rank a JSONL corpus for questions with an exported model")
    p.add_argument("model", metavar="MODEL_DIR", help="a model directory written by `jasper export`")
    p.add_argument("--corpus", required=True, metavar="FILE",
                   help='JSONL, one source a line: {"id": ..., "text": "..."} or {"id": ..., "embedding": [...]}')
    q = p.add_mutually_exclusive_group(required=True)
    q.add_argument("--question", metavar="TEXT", help="one question")
    q.add_argument("--questions", metavar="FILE",
                   help='one question a line, or .jsonl lines {"question": "..."} / {"embedding": [...]}')
    h = p.add_mutually_exclusive_group()
    h.add_argument("--cluster", metavar="NAME", help="steer with this cluster (a topic hint)")
    h.add_argument("--keywords", metavar="TEXT", help="steer with these keywords (embedded)")
    p.add_argument("--k", type=int, default=10, help="results per question (default 10)")
    p.add_argument("--routed-top-m", type=int, metavar="M", help="only sources of the router's top-M clusters")
    p.add_argument("--json", action="store_true", help='one JSON line per question: {"question", "results": [...]}')
    p.set_defaults(handler=run)
