"""The typed batch every dataset produces and every model and loss consumes."""

from __future__ import annotations

import attrs
import torch

from jasper_core.contracts.traceable import set_fields


@attrs.frozen(init=False)
class Batch:
    """A batch of B training pairs with K hard negatives each, D-dimensional embeddings.

    Attributes:
        question: ``[B, D]`` question embeddings.
        steering: ``[B, D]`` steering embeddings (all zeros for the ``zero`` variant).
        steering_variant: ``[B]`` long, code of a variant in
            :data:`jasper_core.contracts.steering.VARIANTS`.
        source: ``[B, D]`` embedding of the source passage that answers the question.
        negatives: ``[B, K, D]`` hard-negative source embeddings.
        negative_tiers: ``[B, K]`` long, difficulty tier of each negative (0 = hardest).
        cluster: ``[B]`` long, the pair's cluster id.
        relevance: ``[B]`` float, the pair's relevance weight.
        source_index: ``[B]`` long, the source's row in the corpus.
        pair_index: ``[B]`` long, the pair's row in the dataset.
    """

    question: torch.Tensor
    steering: torch.Tensor
    steering_variant: torch.Tensor
    source: torch.Tensor
    negatives: torch.Tensor
    negative_tiers: torch.Tensor
    cluster: torch.Tensor
    relevance: torch.Tensor
    source_index: torch.Tensor
    pair_index: torch.Tensor

    def __init__(self, question: torch.Tensor, steering: torch.Tensor, steering_variant: torch.Tensor,
                 source: torch.Tensor, negatives: torch.Tensor, negative_tiers: torch.Tensor, cluster: torch.Tensor,
                 relevance: torch.Tensor, source_index: torch.Tensor, pair_index: torch.Tensor) -> None:
        # built inside the compiled step (the gather of train.compile): see contracts/traceable.py
        set_fields(self, question=question, steering=steering, steering_variant=steering_variant, source=source,
                   negatives=negatives, negative_tiers=negative_tiers, cluster=cluster, relevance=relevance,
                   source_index=source_index, pair_index=pair_index)

    def __len__(self) -> int:
        return int(self.question.shape[0])

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(*(getattr(self, f.name).to(device, non_blocking=True) for f in attrs.fields(Batch)))
