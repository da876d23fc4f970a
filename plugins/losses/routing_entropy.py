"""Routing entropy regularisation following a schedule: diversity early, confidence late.

The per-sample routing entropy is pulled toward a target ``H*(t) = entropy_target(t) · log C``
given by the ``[routing.entropy]`` schedule (default cosine 0.8 → 0.1 of the maximum): high
entropy early keeps every subspace in play, low entropy late makes routing decisive. A second
term keeps the batch's mean routing spread over clusters (against router collapse).
"""

from __future__ import annotations

import math

import attrs
import torch

from jasper_core import LossInputs
from jasper_core.losses import require_explanation
from jasper_core.validators import non_negative


def entropy(p: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy (nats) of probabilities along ``dim``; zero-probability safe."""
    return -(p * torch.log(p.clamp_min(1e-12))).sum(dim=dim)


@attrs.frozen(kw_only=True)
class RoutingEntropyConfig:
    balance_weight: float = attrs.field(default=1.0, validator=non_negative)


class RoutingEntropyLoss(torch.nn.Module):
    """``(mean H(w_i) − H*)² / log²C + balance · (1 − H(mean w) / log C)``; non-negative."""

    def __init__(self, config: RoutingEntropyConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        logits = require_explanation(inputs, "routing_logits", "routing_entropy").float()
        probs = logits.softmax(dim=-1)  # [B, C]; the deterministic distribution, not the Gumbel sample
        c = probs.shape[-1]
        log_c = math.log(c) if c > 1 else 1.0
        target = float(inputs.schedule.get("entropy_target", 0.5)) * log_c
        sample_h = entropy(probs).mean()
        batch_h = entropy(probs.mean(dim=0))
        loss = (sample_h - target) ** 2 / log_c**2 + self.config.balance_weight * (1 - batch_h / log_c)
        return {"loss": loss, "sample_entropy": sample_h.detach(), "batch_entropy": batch_h.detach(),
                "target": torch.tensor(target)}
