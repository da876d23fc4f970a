"""Cosine search over an encoded corpus whose sources are grouped in the model's clusters.

Two searches, both by inner product of unit vectors (cosine):

- exact: every source is a candidate;
- routed: each query names ``m`` clusters (the router's top-m); only sources of those clusters are
  candidates. This is an inverted-file search whose lists are the model's clusters.

:class:`TorchIndex` is the reference implementation (and the fallback when FAISS is not installed);
:class:`jasper_core.inference.faiss_index.FaissIndex` gives the same results with FAISS.
:func:`build_index` picks one.
"""

from __future__ import annotations

import logging
from typing import Literal

import attrs
import torch

log = logging.getLogger("jasper.inference")

Backend = Literal["auto", "faiss", "torch"]
#: Scores computed at once in the exact torch search (queries x sources): bounds its memory.
CHUNK_ELEMENTS = 1 << 24
#: The FAISS IVF's file in an index directory.
IVF_FILE = "ivf.faiss"


@attrs.frozen
class Hits:
    """The ranked candidates of a batch of queries.

    Attributes:
        scores: ``[N, k]`` float32 cosine, best first; ``-inf`` where a query had fewer than k candidates.
        rows: ``[N, k]`` long corpus rows; ``-1`` where a query had fewer than k candidates.
    """

    scores: torch.Tensor
    rows: torch.Tensor


def _merge(best: Hits, scores: torch.Tensor, rows: torch.Tensor, k: int) -> Hits:
    """Keep the ``k`` best of ``best`` ``[n, k]`` and new candidates ``scores``/``rows`` ``[n, j]``."""
    s = torch.cat([best.scores, scores], dim=1)
    r = torch.cat([best.rows, rows], dim=1)
    top, at = s.topk(k, dim=1)
    return Hits(top, r.gather(1, at))


def _empty(n: int, k: int) -> Hits:
    return Hits(torch.full((n, k), float("-inf")), torch.full((n, k), -1, dtype=torch.long))


class TorchIndex:
    """The corpus as one ``[S, D]`` tensor (exact search: a chunked dense matmul) and a copy sorted by cluster, so
    each cluster's list is a contiguous block (routed search: one matmul per routed cluster; made on first use).

    Args:
        corpus: ``[S, D]`` unit-norm target-space embeddings (float32; float16/bfloat16 are kept, for a GPU).
        clusters: ``[S]`` long cluster of each source, in ``[0, num_clusters)``.
        num_clusters: C, the number of lists.
        chunk_elements: scores computed at once in exact search (bounds its memory; larger on a GPU).
    """

    backend = "torch"

    def __init__(self, corpus: torch.Tensor, clusters: torch.Tensor, num_clusters: int, *,
                 chunk_elements: int = CHUNK_ELEMENTS) -> None:
        half = corpus.dtype in (torch.float16, torch.bfloat16)
        self.corpus = (corpus if half else corpus.float()).contiguous()
        self.chunk_elements = chunk_elements
        self.clusters = clusters.long().to(corpus.device)
        self.num_clusters = int(num_clusters)
        self._lists: tuple[torch.Tensor, torch.Tensor, list[int]] | None = None  # built on the first routed search

    def lists(self) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """``(order [S], sorted [S, D], offsets)``: the corpus sorted by cluster; list c is
        ``sorted[offsets[c]:offsets[c+1]]`` and ``order`` maps a sorted position back to its corpus row."""
        if self._lists is None:
            order = torch.argsort(self.clusters, stable=True)
            counts = torch.bincount(self.clusters, minlength=self.num_clusters)
            self._lists = (order, self.corpus[order], [0, *torch.cumsum(counts, 0).tolist()])
        return self._lists

    @property
    def size(self) -> int:
        return int(self.corpus.shape[0])

    def vectors(self) -> torch.Tensor:
        """``[S, D]`` the stored corpus, in row order."""
        return self.corpus

    def search(self, queries: torch.Tensor, k: int, lists: torch.Tensor | None = None) -> Hits:
        """The ``k`` best sources of each query ``[N, D]`` (unit-norm); ``lists`` ``[N, m]`` long makes it routed."""
        queries = queries.to(self.corpus.device, self.corpus.dtype)
        k = min(k, self.size)
        hits = self._exact(queries, k) if lists is None else self._routed(queries, k, lists.long())
        return Hits(hits.scores.float(), hits.rows)

    def _exact(self, queries: torch.Tensor, k: int) -> Hits:
        step = max(1, self.chunk_elements // max(self.size, 1))
        parts = [(q @ self.corpus.T).topk(k, dim=1) for q in queries.split(step)]
        if not parts:
            return _empty(0, k)
        return Hits(torch.cat([p.values for p in parts]), torch.cat([p.indices for p in parts]))

    def _routed(self, queries: torch.Tensor, k: int, lists: torch.Tensor) -> Hits:
        """One matmul per cluster: the queries that route to it against its list, merged into a running top-k."""
        order, sorted_corpus, offsets = self.lists()
        best = _empty(queries.shape[0], k)
        best = Hits(best.scores.to(queries.device, queries.dtype), best.rows.to(queries.device))
        lists = lists.to(queries.device)
        for c in torch.unique(lists).tolist():
            start, end = offsets[c], offsets[c + 1]
            if end == start:
                continue
            who = (lists == c).any(dim=1).nonzero().squeeze(1)  # [n_c] queries routed to c
            scores = queries[who] @ sorted_corpus[start:end].T  # [n_c, S_c]
            top, at = scores.topk(min(k, end - start), dim=1)
            merged = _merge(Hits(best.scores[who], best.rows[who]), top, order[start + at], k)
            best.scores[who], best.rows[who] = merged.scores, merged.rows
        return best


def faiss_available() -> bool:
    """Whether the ``faiss`` module imports (the ``faiss`` extra)."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def build_index(corpus: torch.Tensor, clusters: torch.Tensor, centroids: torch.Tensor, backend: Backend = "auto"):
    """A :class:`TorchIndex` or a :class:`FaissIndex` over ``corpus`` ``[S, D]`` with lists ``clusters`` ``[S]``.

    ``centroids`` ``[C, D]`` (target space, unit norm) are the IVF's quantizer. ``auto`` takes FAISS when it
    is installed and the corpus is on the CPU; ``faiss`` without FAISS installed falls back to torch with one
    warning.
    """
    if backend == "torch" or corpus.device.type != "cpu" and backend == "auto":
        return TorchIndex(corpus, clusters, centroids.shape[0])
    if faiss_available():
        from jasper_core.inference.faiss_index import FaissIndex

        return FaissIndex(corpus, clusters, centroids)
    if backend == "faiss":
        log.warning("faiss is not installed; searching with torch instead (same results, slower on large "
                    "corpora): pip install 'jasper-retrieval[faiss]'")
    return TorchIndex(corpus, clusters, centroids.shape[0])
