"""Gumbel-Softmax subspace router (Jang, Gu & Poole, 2017; Maddison et al., 2017).

``(question [B,D], steering [B,D], state) -> (weights [B,C], logits [B,C])``. In training mode
the weights are a Gumbel-Softmax sample at the router's own ``temperature`` schedule (soft, or
hard one-hot with a straight-through gradient); in eval mode a softmax (or a one-hot argmax with
``hard_inference``).

With ``centroid_prior`` the logits are ``MLP(q, s) + prior`` where the prior scores each centroid
``a`` (the step's target-space centroids, ``state.centroids``, unit-normalised) by how close it lies
to the *steering line* ``{q̂ + t·ŝ : t ∈ ℝ}`` through the unit question along the steering
direction: ``prior = −dist²(a, line) / (2 · prior_temperature)``. Every hint that names a topic
puts it on that line whatever its sign or length — ``centroid`` steering (``c − q``, ahead of the
question) and ``residual`` steering (``q − c``, behind it) alike — so one router reads both; with no
steering the line is the question itself and the prior is nearest-centroid routing,
``(cos(q, a) − 1) / prior_temperature``. The MLP starts at zero and learns the corrections.
"""

from __future__ import annotations

from typing import Callable

import attrs
import torch
import torch.nn.functional as F

from jasper_core import Router, StepState
from jasper_core.recipe import Component, component
from jasper_core.validators import at_least, one_of, positive, probability
from jasper_plugins.nn import ACTIVATIONS, l2_normalize, mlp


@attrs.frozen(kw_only=True)
class GumbelSoftmaxRouterConfig:
    hidden_dim: int = attrs.field(default=256, validator=at_least(1))
    num_layers: int = attrs.field(default=2, validator=at_least(1))
    dropout: float = attrs.field(default=0.0, validator=probability)
    activation: str = attrs.field(default="gelu", validator=one_of(ACTIVATIONS))
    hard: bool = False
    hard_inference: bool = False
    centroid_prior: bool = True
    prior_temperature: float = attrs.field(default=0.05, validator=positive)
    temperature: Component = component("schedule", {"type": "cosine", "start": 1.0, "end": 0.1})


def line_prior(question: torch.Tensor, steering: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """``−dist² / 2`` of each unit centroid ``[C, D]`` to the line through the unit question ``[B, D]``
    along the steering ``[B, D]`` (zero steering: to the question itself) → ``[B, C]``, in [−2, 0]."""
    q = l2_normalize(question.float())
    u = l2_normalize(steering.float())  # zero rows stay zero
    a = l2_normalize(centroids.float())
    cos = q @ a.T  # [B, C]
    along = u @ a.T - (q * u).sum(-1, keepdim=True)  # [B, C]: (a − q)·u
    return (cos - 1.0) + 0.5 * along.square()


class GumbelSoftmaxRouter(Router):
    """Routes a (question, steering) pair to one of C subspaces (clusters).

    Args:
        temperature: the built Gumbel temperature schedule ``(step, total_steps) -> float``.
    """

    def __init__(self, config: GumbelSoftmaxRouterConfig, *, dim: int, num_clusters: int,
                 temperature: Callable[[int, int], float], **_: object) -> None:
        super().__init__()
        self.config = config
        self.temperature = temperature
        self.net = mlp(2 * dim, config.hidden_dim, num_clusters, num_layers=config.num_layers,
                       dropout=config.dropout, activation=config.activation, zero_last=config.centroid_prior)

    def forward(self, question: torch.Tensor, steering: torch.Tensor, state: StepState):
        logits = self.net(torch.cat([question, steering], dim=-1)).float()  # [B, C]
        if self.config.centroid_prior:
            logits = logits + line_prior(question, steering, state.centroids) / self.config.prior_temperature
        if self.training:
            tau = float(self.temperature(state.step, state.total_steps))
            weights = F.gumbel_softmax(logits.float(), tau=max(tau, 1e-4), hard=self.config.hard, dim=-1)
        elif self.config.hard_inference:
            weights = F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
        else:
            weights = logits.float().softmax(dim=-1)
        return weights, logits
