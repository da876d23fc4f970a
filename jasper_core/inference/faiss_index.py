"""The corpus in FAISS: an inverted-file index whose lists are the model's clusters, and a flat one.

The IVF's quantizer holds the model's target-space centroids (nothing is trained: the lists are the
clusters), and each source is added to the list of its cluster as given (``add_core`` with the
assignment precomputed). Routed search hands the router's top-m clusters to ``search_preassigned``,
so FAISS scans exactly those lists; exact search is a flat inner-product scan. Results equal
:class:`jasper_core.inference.index.TorchIndex`'s.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import torch

from jasper_core.inference.index import IVF_FILE, Hits


def _np(x: torch.Tensor, dtype: str) -> np.ndarray:
    return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=dtype)


class FaissIndex:
    """``IndexIVFFlat`` (inner product, lists = clusters) for routed search, ``IndexFlatIP`` for exact search.

    Args:
        corpus: ``[S, D]`` unit-norm float32 target-space embeddings.
        clusters: ``[S]`` long list (cluster) of each source.
        centroids: ``[C, D]`` target-space centroids, the IVF's quantizer.
        ivf: an IVF read back from disk (then ``clusters`` and ``centroids`` are not used to build one).
    """

    backend = "faiss"

    def __init__(self, corpus: torch.Tensor, clusters: torch.Tensor, centroids: torch.Tensor,
                 ivf: "faiss.IndexIVFFlat | None" = None) -> None:
        x = _np(corpus, "float32")
        dim = x.shape[1]
        self.flat = faiss.IndexFlatIP(dim)
        self.flat.add(x)
        if ivf is None:
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
        return int(self.flat.ntotal)

    def vectors(self) -> torch.Tensor:
        """``[S, D]`` the stored corpus, in row order."""
        return torch.from_numpy(self.flat.reconstruct_n(0, self.size))

    def search(self, queries: torch.Tensor, k: int, lists: torch.Tensor | None = None) -> Hits:
        """The ``k`` best sources of each query ``[N, D]`` (unit-norm); ``lists`` ``[N, m]`` long makes it routed."""
        q = _np(queries.float(), "float32")
        k = min(k, self.size)
        if lists is None:
            scores, rows = self.flat.search(q, k)
        else:
            top = _np(lists.long(), "int64")
            self.ivf.nprobe = top.shape[1]  # the wrapper checks the lists' width against nprobe
            scores, rows = self.ivf.search_preassigned(q, k, top, np.zeros(top.shape, dtype="float32"))
        rows_t = torch.from_numpy(rows).long()
        scores_t = torch.from_numpy(scores).float().masked_fill(rows_t < 0, float("-inf"))
        return Hits(scores_t, rows_t)

    def save(self, folder: Path) -> None:
        """Write the IVF as ``folder/ivf.faiss`` (the flat index is rebuilt from the corpus on load)."""
        faiss.write_index(self.ivf, str(Path(folder) / IVF_FILE))

    @classmethod
    def read(cls, folder: Path, corpus: torch.Tensor) -> "FaissIndex":
        """The index saved by :meth:`save` in ``folder``, with its flat part rebuilt from ``corpus`` ``[S, D]``."""
        ivf = faiss.read_index(str(Path(folder) / IVF_FILE))
        return cls(corpus, torch.empty(0), torch.empty(0), ivf=ivf)
