"""Decomposed (subspace) predictor: prediction = coarse (routed centroid) + fine (residual).

``coarse = routing_weights @ anchors`` where the anchors are the cluster centroids in the target
space; ``fine = (q − coarse) + MLP(q, s, coarse)`` with the MLP's last layer starting at zero, so an
untrained model predicts the encoded question (plain cosine retrieval) and ``‖fine‖`` — the
*atypicality* — is the distance of the question from its routed centroid, corrected as training
goes. Returns the routing, coarse, fine and atypicality in the explanation for losses and XAI.
"""

from __future__ import annotations

import attrs
import torch
from torch import nn

from jasper_core import ATYPICALITY, COARSE, FINE, ROUTING_LOGITS, ROUTING_WEIGHTS, Prediction, Predictor, Router, StepState
from jasper_core.recipe import Component, component
from jasper_core.validators import at_least, one_of, positive, probability
from jasper_plugins.nn import ACTIVATIONS, SteeringGate, l2_normalize, mlp


@attrs.frozen(kw_only=True)
class DecomposedPredictorConfig:
    hidden_dim: int = attrs.field(default=512, validator=at_least(1))
    num_layers: int = attrs.field(default=3, validator=at_least(1))
    dropout: float = attrs.field(default=0.1, validator=probability)
    activation: str = attrs.field(default="gelu", validator=one_of(ACTIVATIONS))
    normalize_output: bool = True
    question_skip: bool = True
    use_steering: bool = True
    learnable_anchors: bool = False
    anchors_unfreeze_at: float = attrs.field(default=1.0, validator=probability)
    steering_gate: bool = True
    steering_gate_gain: float = attrs.field(default=100.0, validator=positive)
    router: Component = component("router", {"type": "gumbel_softmax"})


class DecomposedPredictor(Predictor):
    """``question [B,D], steering [B,D], state -> Prediction`` with routing explanation.

    Anchors: without ``learnable_anchors`` they are the step's target-space centroids
    (``state.centroids``), following the EMA target. With it they are a parameter initialised from
    the raw centroids, in the optimiser from the start but frozen (no gradient) until
    ``anchors_unfreeze_at`` of training has passed (two-stage training against residual dominance).

    Args:
        router: the built ``[model.router]``.
    """

    def __init__(self, config: DecomposedPredictorConfig, *, dim: int, num_clusters: int, centroids: torch.Tensor,
                 encoder: nn.Module, router: Router, **_: object) -> None:
        super().__init__()
        self.config = config
        self.online_encoder = encoder
        self.router = router
        self.steering_encoder = mlp(dim, config.hidden_dim, config.hidden_dim, num_layers=2, activation=config.activation)
        self.fine_head = mlp(dim + config.hidden_dim + dim, config.hidden_dim, dim, num_layers=config.num_layers,
                             dropout=config.dropout, activation=config.activation, zero_last=True)
        self.anchors = nn.Parameter(centroids.detach().clone().float()) if config.learnable_anchors else None  # [C, D]
        self.steering_gate = SteeringGate(dim, config.steering_gate_gain) if config.steering_gate else None

    def current_anchors(self, state: StepState) -> torch.Tensor:
        """``[C, D]`` anchors of this step (see the class docstring)."""
        if self.anchors is None:
            return state.centroids
        return self.anchors if state.progress >= self.config.anchors_unfreeze_at else self.anchors.detach()

    def forward(self, question: torch.Tensor, steering: torch.Tensor, state: StepState) -> Prediction:
        if not self.config.use_steering:
            steering = torch.zeros_like(steering)
        anchors = self.current_anchors(state)
        q = self.online_encoder(question)  # [B, D]
        s = self.steering_encoder(steering)  # [B, H]
        weights, logits = self.router(q, steering, state)  # [B, C]
        coarse = weights.to(anchors.dtype) @ anchors  # [B, D]
        correction = self.fine_head(torch.cat([q, s, coarse.to(q.dtype)], dim=-1))  # [B, D]
        fine = (q - coarse) + correction if self.config.question_skip else correction
        if self.steering_gate is not None:
            fine = fine + self.steering_gate(steering)
        prediction = coarse + fine
        atypicality = fine.float().norm(dim=-1)  # [B]
        if self.config.normalize_output:
            prediction = l2_normalize(prediction)
        return Prediction(prediction, {ROUTING_WEIGHTS: weights, ROUTING_LOGITS: logits, COARSE: coarse,
                                       FINE: fine, ATYPICALITY: atypicality})
