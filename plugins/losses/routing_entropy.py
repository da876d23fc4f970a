"""Routing entropy regularisation following a schedule: diversity early, confidence late.

The per-sample routing entropy is pulled toward ``H*(t) = entropy_target(t) · log C``, where
``entropy_target`` is the loss's own schedule (``[loss.entropy_target]``, default cosine 0.8 → 0.1
of the maximum): high
entropy early keeps every subspace in play, low entropy late makes routing decisive. A second
term keeps the batch's mean routing spread over clusters (against router collapse).
"""

from __future__ import annotations

import math
from typing import Callable

import attrs
import torch

from jasper_core import ROUTING_LOGITS, LossInputs, require_explanation
from jasper_core.recipe import Component, component
from jasper_core.validators import non_negative


def entropy(p: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy (nats) of probabilities along ``dim``; zero-probability safe."""
    return -(p * torch.log(p.clamp_min(1e-12))).sum(dim=dim)


@attrs.frozen(kw_only=True)
class RoutingEntropyConfig:
    balance_weight: float = attrs.field(default=1.0, validator=non_negative)
    entropy_target: Component = component("schedule", {"type": "cosine", "start": 0.8, "end": 0.1})


class RoutingEntropyLoss(torch.nn.Module):
    """``(mean H(w_i) − H*)² / log²C + balance · (1 − H(mean w) / log C)``; non-negative.

    Args:
        entropy_target: the built ``entropy_target`` schedule, ``(step, total_steps) -> fraction of log C``.
    """

    def __init__(self, config: RoutingEntropyConfig, *, entropy_target: Callable[[int, int], float]) -> None:
        super().__init__()
        self.config = config
        self.entropy_target = entropy_target

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        logits = require_explanation(inputs, ROUTING_LOGITS, "routing_entropy").float()
        probs = logits.softmax(dim=-1)  # [B, C]; the deterministic distribution, not the Gumbel sample
        c = probs.shape[-1]
        log_c = math.log(c) if c > 1 else 1.0
        target = float(self.entropy_target(inputs.state.step, inputs.state.total_steps)) * log_c
        sample_h = entropy(probs).mean()
        batch_h = entropy(probs.mean(dim=0))
        loss = (sample_h - target) ** 2 / log_c**2 + self.config.balance_weight * (1 - batch_h / log_c)
        return {"loss": loss, "sample_entropy": sample_h.detach(), "batch_entropy": batch_h.detach(),
                "target": probs.new_tensor(target)}
