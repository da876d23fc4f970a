"""An encoded corpus on disk: an index directory, the model fingerprint it was built for, and the cache.

Index directory::

    index.json          format, version, size, dim, clusters, the model fingerprint, the embedding
                        model, the corpus file's sha256 (when built from a file), the backend
    corpus.safetensors  ``embeddings`` [S, D] unit-norm target-space, ``clusters`` [S] long
    ids.json            the S ids; texts.json the S texts when the corpus came as text
    ivf.faiss           the FAISS IVF (lists = clusters), when FAISS was installed at build time

The **fingerprint** hashes what the stored embeddings and lists depend on besides the corpus: the
target-space weights, the target-space centroids and the cluster names. An index whose fingerprint
is not the model's must be re-encoded (with an identity target space only the centroids and names
count, so models trained on the same data share indexes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import attrs
import torch

from jasper_core.errors import JasperError
from jasper_core.inference.atomic import atomic_directory
from jasper_core.inference.index import IVF_FILE, Backend, build_index, faiss_available

log = logging.getLogger("jasper.inference")

FORMAT, VERSION = "jasper-index", 1
META, VECTORS, IDS, TEXTS = "index.json", "corpus.safetensors", "ids.json", "texts.json"


@attrs.define
class Corpus:
    """A searchable corpus: the index, the ids and texts of its rows, and what it was built from."""

    index: Any  # TorchIndex | FaissIndex
    ids: list[Any]
    texts: list[str] | None
    clusters: torch.Tensor  # [S] long, the list of each row
    fingerprint: str
    embedding_model: str | None = None
    corpus_sha256: str | None = None


def fingerprint(target_space: torch.nn.Module, centroids_target: torch.Tensor, cluster_names: Sequence[str]) -> str:
    """16 hex digits of sha256 over the target-space weights, the ``[C, D]`` target-space centroids and the names."""
    h = hashlib.sha256()
    for name, value in sorted(target_space.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    h.update(centroids_target.detach().float().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps(list(cluster_names)).encode())
    return h.hexdigest()[:16]


def save(corpus: Corpus, folder: str | Path) -> Path:
    """Write ``corpus`` as an index directory (into a temporary sibling, renamed at the end); returns it."""
    from safetensors.torch import save_file

    folder = Path(folder)
    index = corpus.index
    with atomic_directory(folder, "index", "choose another index directory") as tmp:
        vectors = index.vectors().float().cpu().contiguous()
        save_file({"embeddings": vectors, "clusters": corpus.clusters.long().cpu().contiguous()}, str(tmp / VECTORS))
        (tmp / IDS).write_text(json.dumps(corpus.ids), encoding="utf-8")
        if corpus.texts is not None:
            (tmp / TEXTS).write_text(json.dumps(corpus.texts), encoding="utf-8")
        if index.backend == "faiss":
            index.save(tmp)
        meta = {"format": FORMAT, "version": VERSION, "size": index.size, "dim": int(vectors.shape[1]),
                "num_clusters": index.num_clusters, "fingerprint": corpus.fingerprint,
                "embedding_model": corpus.embedding_model, "corpus_sha256": corpus.corpus_sha256, "backend": index.backend}
        (tmp / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return folder


def read_meta(folder: str | Path) -> dict[str, Any]:
    """``index.json`` of an index directory, checked.

    Raises:
        JasperError: not an index directory, or a format version this jasper cannot read.
    """
    file = Path(folder) / META
    if not file.is_file():
        raise JasperError(f"{folder}: not a jasper index directory (no {META})")
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise JasperError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise JasperError(f"{file}: not a jasper index of format version {VERSION}")
    return meta


def load(folder: str | Path, expected_fingerprint: str, centroids: torch.Tensor, backend: Backend = "auto") -> Corpus:
    """Read an index directory written by :func:`save` for the model with ``expected_fingerprint`` and
    target-space ``centroids`` ``[C, D]``.

    Raises:
        JasperError: not an index directory, damaged files, or an index built for another model
            (its embeddings must be re-encoded).
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = read_meta(folder)
    if meta["fingerprint"] != expected_fingerprint:
        raise JasperError(f"{folder}: built for another model (fingerprint {meta['fingerprint']}, this model's is "
                          f"{expected_fingerprint}: the target space or its centroids differ), so the corpus must be "
                          "re-encoded; build the index again with this model")
    try:
        tensors = load_file(str(folder / VECTORS))
        ids = json.loads((folder / IDS).read_text(encoding="utf-8"))
        texts = json.loads((folder / TEXTS).read_text(encoding="utf-8")) if (folder / TEXTS).is_file() else None
    except Exception as exc:  # damaged or missing files: several exception types
        raise JasperError(f"{folder}: cannot read the index ({exc})") from None
    vectors, clusters = tensors["embeddings"], tensors["clusters"]
    has_ivf = (folder / IVF_FILE).is_file()
    if has_ivf and backend != "torch" and faiss_available():
        from jasper_core.inference.faiss_index import FaissIndex

        index: Any = FaissIndex.read(folder, vectors, clusters)
    else:  # an index saved with FAISS still loads without it (torch, one warning)
        index = build_index(vectors, clusters, centroids, "faiss" if has_ivf and backend == "auto" else backend)
    return Corpus(index, ids, texts, clusters, meta["fingerprint"], meta.get("embedding_model"), meta.get("corpus_sha256"))


# -- the cache of encoded corpora ---------------------------------------------------------------
def cache_root() -> Path:
    """``$JASPER_CACHE_DIR``, else ``$XDG_CACHE_HOME/jasper``, else ``~/.cache/jasper``."""
    if os.environ.get("JASPER_CACHE_DIR"):
        return Path(os.environ["JASPER_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jasper"


def cache_entry(corpus_sha256: str, embedding_model: str | None, model_fingerprint: str) -> Path:
    """The cache directory of a corpus file encoded by a model: keyed by the file's content hash, the
    embedding model and the model fingerprint."""
    key = hashlib.sha256(f"{corpus_sha256}\0{embedding_model}\0{model_fingerprint}".encode()).hexdigest()[:24]
    return cache_root() / "corpora" / key
