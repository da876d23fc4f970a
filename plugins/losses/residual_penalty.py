"""Residual penalty: a hinge on the fine residual's norm above a margin (against residual dominance)."""

from __future__ import annotations

import attrs
import torch

from jasper_core import FINE, LossInputs, require_explanation
from jasper_core.validators import non_negative


@attrs.frozen(kw_only=True)
class ResidualPenaltyConfig:
    margin: float = attrs.field(default=1.0, validator=non_negative)


class ResidualPenaltyLoss(torch.nn.Module):
    """The hinge ``mean(max(0, ‖fine‖ − margin))`` on the fine residual; logs the mean residual norm."""

    def __init__(self, config: ResidualPenaltyConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        fine = require_explanation(inputs, FINE, "residual_penalty").float()
        norm = fine.norm(dim=-1)
        loss = torch.relu(norm - self.config.margin).mean()
        return {"loss": loss, "norm": norm.mean().detach()}
