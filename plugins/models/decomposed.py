"""Decomposed (subspace) predictor: prediction = coarse (routed topic) + fine (the question within its topic).

With anchors ``A [C, D]`` (the cluster centroids in the target space) and ``λ`` (``anchor_scale``):

- ``coarse = λ · routing_weights @ A``: the topic the router chose, from question and steering;
- ``fine = (q − λ · prior @ A) + MLP(q, coarse)``: the question relative to the topic it sits in
  by itself (``prior = softmax(cos(q, A) / prior_temperature)``, no steering), refined by an MLP
  whose last layer starts at zero;
- ``prediction = coarse + fine = q + λ (routing − prior) @ A + MLP(...)``.

By default the steering hint acts through the routing only: the fine MLP sees the routed topic
(``coarse``), not the hint. A hint fed to the fine part pulls every question of a topic towards its
centroid and blurs the ranking inside the topic (on the development benchmark, search inside the
true cluster lost 0.01–0.04 MRR with the hint); ``steering_in_fine`` and ``steering_gate`` put
it back (``MLP(q, s, coarse)`` and ``gain · gate ⊙ s``).

So the routing moves the prediction exactly as far as it disagrees with where the question sits:
with a topic hint that routes a question away from the wrong cluster, the prediction is translated
into the hinted topic; replacing the router by uniform weights strips the topic out of every
prediction (and retrieval suffers). An untrained model whose router agrees with the prior predicts
the encoded question (plain cosine retrieval). ``atypicality = ‖fine‖``: how far the question is from
its own topic. Returns routing, coarse, fine and atypicality in the explanation for losses and XAI.
"""

from __future__ import annotations

import attrs
import torch
from torch import nn

from jasper_core import ATYPICALITY, COARSE, FINE, ROUTING_LOGITS, ROUTING_WEIGHTS, Prediction, Predictor, Router, StepState
from jasper_core.recipe import Component, component
from jasper_core.validators import at_least, non_negative, one_of, positive, probability
from jasper_plugins.nn import ACTIVATIONS, SteeringGate, jitter, l2_normalize, mlp


@attrs.frozen(kw_only=True)
class DecomposedPredictorConfig:
    hidden_dim: int = attrs.field(default=512, validator=at_least(1))
    num_layers: int = attrs.field(default=3, validator=at_least(1))
    dropout: float = attrs.field(default=0.1, validator=probability)
    activation: str = attrs.field(default="gelu", validator=one_of(ACTIVATIONS))
    normalize_output: bool = True
    question_skip: bool = True
    anchor_scale: float = attrs.field(default=0.5, validator=positive)
    prior_temperature: float = attrs.field(default=0.05, validator=positive)
    use_steering: bool = True
    learnable_anchors: bool = False
    anchors_unfreeze_at: float = attrs.field(default=1.0, validator=probability)
    steering_gate: bool = False
    steering_in_fine: bool = False
    steering_gate_gain: float = attrs.field(default=100.0, validator=positive)
    input_noise: float = attrs.field(default=0.0, validator=non_negative)
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
        self.steering_encoder = (mlp(dim, config.hidden_dim, config.hidden_dim, num_layers=2, activation=config.activation)
                                 if config.steering_in_fine else None)
        fine_in = dim + (config.hidden_dim if config.steering_in_fine else 0) + dim
        self.fine_head = mlp(fine_in, config.hidden_dim, dim, num_layers=config.num_layers,
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
        q = self.online_encoder(jitter(question, self.config.input_noise, self.training))  # [B, D]
        weights, logits = self.router(question, steering, state)  # [B, C]: steering is relative to the raw question
        scale = self.config.anchor_scale
        coarse = scale * (weights.to(anchors.dtype) @ anchors)  # [B, D]
        hint = [self.steering_encoder(steering)] if self.config.steering_in_fine else []  # [B, H]
        correction = self.fine_head(torch.cat([q, *hint, coarse.to(q.dtype)], dim=-1))  # [B, D]
        if self.config.question_skip:
            prior = (l2_normalize(q.float()) @ l2_normalize(anchors.float()).T / self.config.prior_temperature).softmax(-1)
            fine = (q - scale * (prior.to(anchors.dtype) @ anchors)) + correction  # [B, D]
        else:
            fine = correction
        if self.steering_gate is not None:
            fine = fine + self.steering_gate(steering)
        prediction = coarse + fine
        atypicality = fine.float().norm(dim=-1)  # [B]
        if self.config.normalize_output:
            prediction = l2_normalize(prediction)
        return Prediction(prediction, {ROUTING_WEIGHTS: weights, ROUTING_LOGITS: logits, COARSE: coarse,
                                       FINE: fine, ATYPICALITY: atypicality})
