"""The predictor contract: ``(question [B,D], steering [B,D], state) -> Prediction``.

A model gets everything that changes from step to step in ONE typed argument, the
:class:`StepState`, passed explicitly to every forward pass (training, evaluation, explanation):
no setters, no attributes probed by the core.
"""

from __future__ import annotations

from typing import Mapping

import attrs
import torch

from jasper_core.contracts.traceable import set_fields

#: Keys of ``Prediction.explanation`` that the built-in losses, metrics and XAI understand.
ROUTING_WEIGHTS = "routing_weights"  # [B, C] routing distribution (a Gumbel sample in training)
ROUTING_LOGITS = "routing_logits"  # [B, C] the router's logits
COARSE = "coarse"  # [B, D] the routed centroid mixture (the prediction's coarse part)
FINE = "fine"  # [B, D] the residual added to the coarse part
ATYPICALITY = "atypicality"  # [B] ‖fine‖: how far the question sits from its routed centroid
QUESTION_LATENT = "question_latent"  # [B, D] the online encoder's embedding of the question


@attrs.frozen(kw_only=True, init=False)
class StepState:
    """Where training stands, and the target space's view of the clusters.

    Attributes:
        step: the global step (0-based: the optimiser step about to run).
        total_steps: steps of the whole run (at least 1).
        centroids: ``[C, D]`` cluster centroids mapped into the current target space.
    """

    step: int
    total_steps: int
    centroids: torch.Tensor

    def __init__(self, *, step: int, total_steps: int, centroids: torch.Tensor) -> None:
        set_fields(self, step=step, total_steps=total_steps, centroids=centroids)

    @property
    def progress(self) -> float:
        """``step / total_steps`` in ``[0, 1]``."""
        return min(max(self.step / max(self.total_steps, 1), 0.0), 1.0)

    @classmethod
    def after_training(cls, centroids: torch.Tensor) -> "StepState":
        """The state of a trained model at inference (progress 1)."""
        return cls(step=1, total_steps=1, centroids=centroids)


@attrs.frozen(init=False)
class Prediction:
    """What a predictor returns.

    Attributes:
        prediction: ``[B, D]`` predicted source embedding in the target space.
        explanation: named tensors for losses and XAI (keys above, e.g. :data:`ROUTING_WEIGHTS`).
    """

    prediction: torch.Tensor
    explanation: Mapping[str, torch.Tensor] = attrs.field(factory=dict)

    def __init__(self, prediction: torch.Tensor, explanation: Mapping[str, torch.Tensor] | None = None) -> None:
        set_fields(self, prediction=prediction, explanation={} if explanation is None else explanation)


class Predictor(torch.nn.Module):
    """Base class of predictor models.

    Attributes:
        online_encoder: the module the EMA target encoder follows (it must receive gradients),
            or None when the model has none (then the target space must be ``identity``).
    """

    online_encoder: torch.nn.Module | None

    def __init__(self) -> None:
        super().__init__()
        self.online_encoder = None

    def forward(self, question: torch.Tensor, steering: torch.Tensor, state: StepState) -> Prediction:  # pragma: no cover
        raise NotImplementedError


class Router(torch.nn.Module):
    """Base class of subspace routers: ``(question [B,D], steering [B,D], state) -> (weights [B,C], logits [B,C])``.

    In training mode the weights may be a sample (Gumbel-Softmax); in eval mode they are the
    routing distribution. ``state.centroids`` are the target-space centroids.
    """

    def forward(self, question: torch.Tensor, steering: torch.Tensor,
                state: StepState) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError
