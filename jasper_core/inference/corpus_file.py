"""JSONL corpora and question files, and indexing a corpus file through the cache of encoded corpora.

A corpus file has one source a line: ``{"id": ..., "text": "..."}`` or ``{"id": ..., "embedding":
[...]}`` (one kind per file), optionally with ``"cluster": NAME`` on every line (then it is each
source's list for routed search instead of its nearest centroid).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from jasper_core.errors import JasperError
from jasper_core.integrity import file_sha256
from jasper_core.inference import store
from jasper_core.inference.index import Backend

log = logging.getLogger("jasper.inference")


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


def inputs(records: list[dict[str, Any]], text_key: str) -> Any:
    """The model inputs of records: their embeddings (lists of numbers) or their ``text_key`` texts."""
    if "embedding" in records[0]:
        return [r["embedding"] for r in records]
    return [str(r[text_key]) for r in records]


def read_questions(path: str | Path) -> tuple[list[str], Any]:
    """Labels and model inputs of a questions file: plain text (one a line) or ``.jsonl`` (``question``/``embedding``)."""
    path = Path(path)
    if path.suffix == ".jsonl":
        recs = read_jsonl(path, "questions", ("question", "embedding"), id_required=False)
        labels = [str(r.get("question", r.get("id", i))) for i, r in enumerate(recs)]
        return labels, inputs(recs, "question")
    if not path.is_file():
        raise JasperError(f"{path}: questions file not found")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise JasperError(f"{path}: no questions")
    return lines, lines


def index_file(model: Any, path: str | Path, *, backend: Backend = "auto", cache: bool = True) -> Any:
    """Index the corpus file ``path`` for ``model`` (a :class:`JasperModel`), encoding it at most once.

    The encoded corpus is cached under :func:`jasper_core.inference.store.cache_root` keyed by the
    file's content hash, the embedding model and the model's fingerprint, so the next search of the
    same file with the same model reads it back instead of encoding. Returns ``model``.
    """
    path = Path(path)
    if not path.is_file():
        raise JasperError(f"{path}: corpus file not found")
    digest = file_sha256(path)
    entry = store.cache_entry(digest, model.embedding_model, model.fingerprint)
    if cache and (entry / store.META).is_file():
        try:
            model.load_index(entry, backend=backend)
            log.info("corpus %s: %d encoded sources from the cache (%s)", path, model.corpus.index.size, entry)
            return model
        except JasperError as exc:
            log.warning("ignoring a damaged cache entry (%s); encoding again", exc)
            shutil.rmtree(entry, ignore_errors=True)
    records = read_jsonl(path, "corpus", ("text", "embedding"), id_required=True)
    labelled = all("cluster" in r for r in records)
    log.info("corpus %s: encoding %d sources", path, len(records))
    model.index(inputs(records, "text"), ids=[r["id"] for r in records],
                clusters=[r["cluster"] for r in records] if labelled else None, backend=backend, corpus_sha256=digest)
    if cache:
        try:
            store.save(model.corpus, entry)
            log.info("cached the encoded corpus in %s", entry)
        except JasperError as exc:  # a full disk or a concurrent writer: searching still works
            log.warning("could not cache the encoded corpus (%s)", exc)
    return model
