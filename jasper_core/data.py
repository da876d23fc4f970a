"""The dataset contract and the vectorised epoch batcher shared by every dataset plugin."""

from __future__ import annotations

from typing import Iterator, Protocol, Sequence, runtime_checkable

import torch

from jasper_core.batch import STEERING_VARIANTS, Batch


@runtime_checkable
class Dataset(Protocol):
    """What a dataset plugin's factory returns. All tensors live on one device.

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
        question_texts / source_texts: optional lists of texts (explanations use them).
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

    def split(self, name: str) -> torch.Tensor:
        """``[P_split]`` long pair indices of ``"train"``, ``"val"`` or ``"test"``."""

    def gather(self, pairs: torch.Tensor, variants: torch.Tensor) -> Batch:
        """Build a batch by indexing: ``pairs [B]`` long, ``variants [B]`` long steering codes."""

    def steering(self, pairs: torch.Tensor, variants: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` steering embeddings of ``pairs`` for the given variant codes."""

    def on_epoch_start(self, epoch: int) -> None:
        """Called before each training epoch (e.g. to reload hard negatives from disk)."""


def variant_code(name: str) -> int:
    """Index of a steering variant name; raises ValueError listing the valid ones."""
    try:
        return STEERING_VARIANTS.index(name)
    except ValueError:
        raise ValueError(f"unknown steering variant {name!r}; choose from {', '.join(STEERING_VARIANTS)}") from None


def num_batches(n: int, batch_size: int, drop_last: bool) -> int:
    """Batches in one pass over ``n`` pairs; with ``drop_last`` the incomplete last batch is dropped,
    unless it is the only one."""
    if n == 0:
        return 0
    return n // batch_size if drop_last and n >= batch_size else -(-n // batch_size)


def epoch_batches(
    dataset: Dataset,
    pairs: torch.Tensor,
    batch_size: int,
    *,
    generator: torch.Generator,
    variant_probs: Sequence[float] | torch.Tensor | None = None,
    variant: str | None = None,
    drop_last: bool = True,
    shuffle: bool = True,
    balance_by: torch.Tensor | None = None,
) -> Iterator[Batch]:
    """Yield the batches of one pass over ``pairs`` without per-sample Python.

    A seeded permutation orders the pairs; steering variants are drawn for the whole epoch at
    once from ``variant_probs`` (length 4, in :data:`STEERING_VARIANTS` order) unless ``variant``
    forces one.

    Args:
        pairs: ``[P]`` long pair indices (on the dataset's device).
        generator: a CPU generator; its state is the epoch's randomness (saved in checkpoints).
        balance_by: ``[P_split]`` long group ids (e.g. clusters): draw the epoch's pairs with
            replacement so every group is equally likely (class-balanced batches).
    """
    n = int(pairs.shape[0])
    if n == 0:
        return
    if balance_by is not None:
        groups = balance_by.cpu()
        counts = torch.bincount(groups).float()
        weights = 1.0 / counts[groups]
        order = torch.multinomial(weights, n, replacement=True, generator=generator)
    else:
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    if variant is not None:
        codes = torch.full((n,), variant_code(variant), dtype=torch.long)
    else:
        probs = torch.as_tensor(variant_probs if variant_probs is not None else [1.0, 0.0, 0.0, 0.0], dtype=torch.float)
        codes = torch.multinomial(probs, n, replacement=True, generator=generator)
    order = order.to(pairs.device)
    codes = codes.to(pairs.device)
    for i in range(num_batches(n, batch_size, drop_last)):
        start = i * batch_size
        sel = order[start : start + batch_size]
        yield dataset.gather(pairs[sel], codes[start : start + batch_size])
