"""The predictor contract: ``(question [B,D], steering [B,D]) -> Prediction``."""

from __future__ import annotations

from typing import Mapping

import attrs
import torch


@attrs.frozen
class Prediction:
    """What a predictor returns.

    Attributes:
        prediction: ``[B, D]`` predicted source embedding in the target space.
        explanation: named tensors for losses and XAI, e.g. ``routing_weights [B,C]``,
            ``routing_logits [B,C]``, ``coarse [B,D]``, ``fine [B,D]``, ``atypicality [B]``.
    """

    prediction: torch.Tensor
    explanation: Mapping[str, torch.Tensor] = attrs.field(factory=dict)


class Predictor(torch.nn.Module):
    """Base class for predictor models.

    Subclasses set ``self.online_encoder`` (the module the EMA target encoder follows; it must
    receive gradients) and implement :meth:`forward`.
    """

    online_encoder: torch.nn.Module

    def forward(self, question: torch.Tensor, steering: torch.Tensor) -> Prediction:  # pragma: no cover
        raise NotImplementedError

    def set_schedule_values(self, values: Mapping[str, float]) -> None:
        """Receive schedule values each step (e.g. ``gumbel_temperature``); default ignores them."""

    def set_target_centroids(self, centroids: torch.Tensor) -> None:
        """Receive the cluster centroids in the current target space ``[C, D]`` before each
        forward pass in training and evaluation; default ignores them."""
