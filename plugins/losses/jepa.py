"""JEPA prediction loss: Smooth-L1 between the prediction and the EMA target's source embedding.

After I-JEPA (Assran et al., 2023), which regresses predicted onto target-encoder representations.
"""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F

from jasper_core import LossInputs
from jasper_core.validators import positive
from jasper_plugins.nn import l2_normalize


def smooth_l1_distance(prediction: torch.Tensor, target: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-row Smooth-L1 distance averaged over D: ``[B, D], [B, D] -> [B]``; zero iff equal."""
    return F.smooth_l1_loss(prediction, target, beta=beta, reduction="none").mean(dim=-1)


@attrs.frozen(kw_only=True)
class JEPALossConfig:
    beta: float = attrs.field(default=0.01, validator=positive)
    normalize: bool = True


class JEPALoss(torch.nn.Module):
    """Smooth-L1 regression of the prediction onto the (detached) target embedding."""

    def __init__(self, config: JEPALossConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        pred, target = inputs.prediction, inputs.positive.detach()
        if self.config.normalize:
            pred, target = l2_normalize(pred), l2_normalize(target)
        loss = smooth_l1_distance(pred, target, self.config.beta).mean()
        cosine = (l2_normalize(inputs.prediction) * l2_normalize(inputs.positive)).sum(-1).mean()
        return {"loss": loss, "cosine": cosine.detach()}
