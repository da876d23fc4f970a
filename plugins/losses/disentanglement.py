"""Disentanglement: subspaces used exclusively and evenly.

With routing weights ``W [B, C]``, the co-usage matrix ``G = WᵀW / B`` is ``diag(1/C)`` exactly when
every question is routed to one subspace and the subspaces are used equally often. The loss is
``C · ‖G − I/C‖²_F``: zero there, high under router collapse (every question to one subspace:
``G = e_k e_kᵀ``) and high under undecided routing (uniform weights: ``G = 11ᵀ/C²``). A plain
covariance penalty, by contrast, is lowest under total collapse (all rows equal, no covariance).
"""

from __future__ import annotations

import attrs
import torch

from jasper_core import ROUTING_WEIGHTS, LossInputs, require_explanation


def co_usage_penalty(weights: torch.Tensor) -> torch.Tensor:
    """``[B, C] -> []``: ``C · ‖WᵀW/B − I/C‖²_F``."""
    b, c = weights.shape
    gram = weights.T @ weights / b  # [C, C]
    ideal = torch.eye(c, device=weights.device, dtype=weights.dtype) / c
    return c * (gram - ideal).pow(2).sum()


@attrs.frozen(kw_only=True)
class DisentanglementConfig:
    pass


class DisentanglementLoss(torch.nn.Module):
    """``C · ‖WᵀW/B − I/C‖²_F`` of the routing weights ``[B, C]``."""

    def __init__(self, config: DisentanglementConfig | None = None) -> None:
        super().__init__()

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        weights = require_explanation(inputs, ROUTING_WEIGHTS, "disentanglement").float()
        return {"loss": co_usage_penalty(weights)}
