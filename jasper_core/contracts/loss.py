"""What loss plugins receive, and the checks shared by every loss."""

from __future__ import annotations

from typing import Mapping

import attrs
import torch

from jasper_core.contracts.model import StepState


@attrs.frozen(kw_only=True)
class LossInputs:
    """Everything a loss term may compare. All embeddings are in the target space.

    Attributes:
        prediction: ``[B, D]`` model output.
        positive: ``[B, D]`` target-space embedding of the true source.
        negatives: ``[B, K, D]`` target-space hard negatives.
        negative_tiers: ``[B, K]`` long tiers (0 = hardest).
        cluster: ``[B]`` long true cluster ids.
        state: the step state (position in training, ``state.centroids [C, D]`` target-space).
        explanation: the model's named extra outputs (routing weights, fine residual, ...).
    """

    prediction: torch.Tensor
    positive: torch.Tensor
    negatives: torch.Tensor
    negative_tiers: torch.Tensor
    cluster: torch.Tensor
    state: StepState
    explanation: Mapping[str, torch.Tensor] = attrs.field(factory=dict)

    @property
    def centroids(self) -> torch.Tensor:
        """``[C, D]`` target-space centroids (``state.centroids``)."""
        return self.state.centroids


def require_explanation(inputs: LossInputs, key: str, loss_name: str) -> torch.Tensor:
    """Return ``inputs.explanation[key]`` or raise a ValueError saying which model provides it."""
    if key not in inputs.explanation:
        raise ValueError(
            f'loss "{loss_name}" needs the model output "{key}", which this model does not produce; '
            'use a routing model (model.type = "decomposed") or remove this loss'
        )
    return inputs.explanation[key]
