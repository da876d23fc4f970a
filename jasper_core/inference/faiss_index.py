"""The corpus in FAISS: an inverted-file index whose lists are the model's clusters.

The IVF's quantizer holds the model's target-space centroids (nothing is trained: the lists are the
clusters), and each source is added to the list of its cluster as given (``add_core`` with the
assignment precomputed). Routed search hands the router's top-m clusters to ``search_preassigned``,
so FAISS scans exactly those lists. Exact search is the flat inner-product scan of
:class:`jasper_core.inference.index.TorchIndex` (a dense matmul): on the 2-core development machine
FAISS's ``IndexFlatIP`` was 17x slower for the same result (benchmarks/search.py). Results equal
``TorchIndex``'s.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import torch

from jasper_core.inference.index import IVF_FILE, Hits, TorchIndex


def _np(x: torch.Tensor, dtype: str) -> np.ndarray:
    return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=dtype)


class FaissIndex:
    """``IndexIVFFlat`` (inner product, lists = clusters) for routed search, a dense matmul for exact search.

    Args:
        corpus: ``[S, D]`` unit-norm float32 target-space embeddings.
        clusters: ``[S]`` long list (cluster) of each source.
        centroids: ``[C, D]`` target-space centroids, the IVF's quantizer.
        ivf: an IVF read back from disk (then ``centroids`` are not used to build one).
    """

    backend = "faiss"

    def __init__(self, corpus: torch.Tensor, clusters: torch.Tensor, centroids: torch.Tensor,
                 ivf: "faiss.IndexIVFFlat | None" = None) -> None:
        self.flat = TorchIndex(corpus.float().cpu(), clusters.cpu(), int(ivf.nlist if ivf is not None else centroids.shape[0]))
        if ivf is None:
            x = _np(corpus, "float32")
            dim = x.shape[1]
            quantizer = faiss.IndexFlatIP(dim)
            quantizer.add(_np(centroids, "float32"))
            ivf = faiss.IndexIVFFlat(quantizer, dim, quantizer.ntotal, faiss.METRIC_INNER_PRODUCT)
            ivf.own_fields = True  # the IVF frees its quantizer
            quantizer.this.disown()
            assign = _np(clusters, "int64")
            ids = np.arange(x.shape[0], dtype="int64")
            ivf.add_core(x.shape[0], faiss.swig_ptr(x), faiss.swig_ptr(ids), faiss.swig_ptr(assign))
        self.ivf = ivf
        self.num_clusters = int(ivf.nlist)

    @property
    def size(self) -> int:
        return self.flat.size

    def vectors(self) -> torch.Tensor:
        """``[S, D]`` the stored corpus, in row order."""
        return self.flat.corpus

    def search(self, queries: torch.Tensor, k: int, lists: torch.Tensor | None = None) -> Hits:
        """The ``k`` best sources of each query ``[N, D]`` (unit-norm); ``lists`` ``[N, m]`` long makes it routed."""
        if lists is None:
            return self.flat.search(queries, k)
        q = _np(queries.float(), "float32")
        k = min(k, self.size)
        top = _np(lists.long(), "int64")
        self.ivf.nprobe = top.shape[1]  # the wrapper checks the lists' width against nprobe
        scores, rows = self.ivf.search_preassigned(q, k, top, np.zeros(top.shape, dtype="float32"))
        rows_t = torch.from_numpy(rows).long()
        scores_t = torch.from_numpy(scores).float().masked_fill(rows_t < 0, float("-inf"))
        return Hits(scores_t, rows_t)

    def save(self, folder: Path) -> None:
        """Write the IVF as ``folder/ivf.faiss`` (the corpus itself is saved beside it by the caller)."""
        faiss.write_index(self.ivf, str(Path(folder) / IVF_FILE))

    @classmethod
    def read(cls, folder: Path, corpus: torch.Tensor, clusters: torch.Tensor) -> "FaissIndex":
        """The index saved by :meth:`save` in ``folder``, over ``corpus`` ``[S, D]`` with lists ``clusters`` ``[S]``."""
        ivf = faiss.read_index(str(Path(folder) / IVF_FILE))
        return cls(corpus, clusters, torch.empty(0), ivf=ivf)
