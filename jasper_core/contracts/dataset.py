"""The dataset contract: what a dataset plugin's factory returns."""

from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

import torch

from jasper_core.contracts.batch import Batch

#: The split names every dataset answers to in :meth:`Dataset.split`.
SPLITS: tuple[str, ...] = ("train", "val", "test")


@runtime_checkable
class Dataset(Protocol):
    """A JASPER dataset held as tensors on one device. Batches come from vectorised indexing.

    Attributes:
        dim: embedding dimension D.
        num_clusters: C.
        cluster_names: C names (``"cluster_3"`` when the data has none).
        centroids: ``[C, D]`` cluster centroids (raw embedding space).
        sources: ``[S, D]`` every source passage: the retrieval corpus.
        source_cluster: ``[S]`` long, cluster of each source (-1 when unknown).
        pair_source: ``[P]`` long, source row of each pair.
        pair_cluster: ``[P]`` long, cluster of each pair.
        questions: ``[Q, D]`` question embeddings.
        pair_question: ``[P]`` long, question row of each pair.
        texts: ``{"questions": [...], "sources": [...], ...}`` lists of texts, or ``{}``.
        meta: the dataset's own description (``model_name`` of the embedding model, ...), or ``{}``.
    """

    dim: int
    num_clusters: int
    cluster_names: list[str]
    centroids: torch.Tensor
    sources: torch.Tensor
    source_cluster: torch.Tensor
    pair_source: torch.Tensor
    pair_cluster: torch.Tensor
    questions: torch.Tensor
    pair_question: torch.Tensor
    texts: Mapping[str, list[str]]
    meta: Mapping[str, Any]

    def split(self, name: str) -> torch.Tensor:
        """``[P_split]`` long pair indices of ``"train"``, ``"val"`` or ``"test"``."""

    def gather(self, pairs: torch.Tensor, variants: torch.Tensor) -> Batch:
        """Build a batch by indexing: ``pairs [B]`` long, ``variants [B]`` long steering codes.

        A function of its arguments and the tables alone (no random draw, no state changed): a step
        may call it more than once for the same pairs (a multi-process compiled step gathers the
        source and negatives again after DDP's forward). Device operations only (no host read): under
        ``train.cuda_graph`` it is captured into the training step's CUDA graph, which reads the tables
        by address. A table replaced in
        :meth:`on_epoch_start` must be held as an attribute (or in a list, tuple or dict attribute),
        where the trainer sees it moved and captures the step again.
        """

    def steering(self, pairs: torch.Tensor, variants: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` steering embeddings of ``pairs`` for the given variant codes."""

    def on_epoch_start(self, epoch: int) -> None:
        """Called before each training epoch (e.g. to reload hard negatives from disk)."""

    def describe(self) -> dict[str, Any]:
        """A short JSON-able description (path, format, sizes) for logs and run records."""
