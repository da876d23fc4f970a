"""Disentanglement: off-diagonal covariance of the routing weights (subspaces used independently)."""

from __future__ import annotations

import attrs
import torch

from jasper_core import ROUTING_WEIGHTS, LossInputs, require_explanation
from jasper_plugins.losses.vicreg import covariance_term


@attrs.frozen(kw_only=True)
class DisentanglementConfig:
    pass


class DisentanglementLoss(torch.nn.Module):
    """Sum of squared off-diagonal covariances of ``routing_weights [B,C]``, divided by C."""

    def __init__(self, config: DisentanglementConfig | None = None) -> None:
        super().__init__()

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        weights = require_explanation(inputs, ROUTING_WEIGHTS, "disentanglement").float()
        return {"loss": covariance_term(weights)}
