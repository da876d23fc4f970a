"""Gumbel-Softmax subspace router (Jang, Gu & Poole, 2017; Maddison et al., 2017).

``(question [B,D], steering [B,D], state) -> (weights [B,C], logits [B,C])``. In training mode
the weights are a Gumbel-Softmax sample at the router's own ``temperature`` schedule (soft, or
hard one-hot with a straight-through gradient); in eval mode a softmax (or a one-hot argmax with
``hard_inference``).

With ``centroid_prior`` the logits are ``MLP(q, s) + cos(q + s, centroids) / prior_temperature``
with the step's target-space centroids (``state.centroids``): routing starts as nearest-centroid
routing of the steered question (a centroid hint points it at the hinted cluster) and the MLP
learns the corrections.
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
            cos = l2_normalize((question + steering).float()) @ l2_normalize(state.centroids.float()).T
            logits = logits + cos / self.config.prior_temperature
        if self.training:
            tau = float(self.temperature(state.step, state.total_steps))
            weights = F.gumbel_softmax(logits.float(), tau=max(tau, 1e-4), hard=self.config.hard, dim=-1)
        elif self.config.hard_inference:
            weights = F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
        else:
            weights = logits.float().softmax(dim=-1)
        return weights, logits
