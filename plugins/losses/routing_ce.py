"""Routing cross-entropy: the router's logits should pick the pair's true cluster."""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F

from jasper_core import ROUTING_LOGITS, ROUTING_WEIGHTS, LossInputs, require_explanation
from jasper_core.validators import probability


@attrs.frozen(kw_only=True)
class RoutingCEConfig:
    label_smoothing: float = attrs.field(default=0.0, validator=probability)


class RoutingCELoss(torch.nn.Module):
    """``CE(routing_logits [B,C], cluster [B])``; logs hard accuracy and the soft weight on the true cluster."""

    def __init__(self, config: RoutingCEConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        logits = require_explanation(inputs, ROUTING_LOGITS, "routing_ce").float()
        weights = require_explanation(inputs, ROUTING_WEIGHTS, "routing_ce").float()
        loss = F.cross_entropy(logits, inputs.cluster, label_smoothing=self.config.label_smoothing)
        hard = (logits.argmax(dim=1) == inputs.cluster).float().mean()
        soft = weights.gather(1, inputs.cluster.unsqueeze(1)).mean()
        return {"loss": loss, "accuracy": hard.detach(), "soft_accuracy": soft.detach()}
