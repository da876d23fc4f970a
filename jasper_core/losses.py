"""What loss plugins receive, and the checks shared by every loss."""

from __future__ import annotations

from typing import Mapping

import attrs
import torch


@attrs.frozen
class LossInputs:
    """Everything a loss term may compare. All embeddings are in the target space.

    Attributes:
        prediction: ``[B, D]`` model output.
        target: ``[B, D]`` target-space embedding of the true source.
        negatives: ``[B, K, D]`` target-space hard negatives.
        negative_tiers: ``[B, K]`` long tiers (0 = hardest).
        centroids: ``[C, D]`` target-space cluster centroids.
        cluster: ``[B]`` long true cluster ids.
        explanation: the model's named extra outputs (routing weights, fine residual, ...).
        schedule: current schedule values (``entropy_target``, ``progress``, ...).
    """

    prediction: torch.Tensor
    target: torch.Tensor
    negatives: torch.Tensor
    negative_tiers: torch.Tensor
    centroids: torch.Tensor
    cluster: torch.Tensor
    explanation: Mapping[str, torch.Tensor] = attrs.field(factory=dict)
    schedule: Mapping[str, float] = attrs.field(factory=dict)


def require_explanation(inputs: LossInputs, key: str, loss_name: str) -> torch.Tensor:
    """Return ``inputs.explanation[key]`` or raise a ValueError saying which model provides it."""
    if key not in inputs.explanation:
        raise ValueError(
            f'loss "{loss_name}" needs the model output "{key}", which this model does not produce; '
            'use a routing model (model.type = "decomposed") or remove this loss'
        )
    return inputs.explanation[key]
