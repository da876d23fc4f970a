"""VICReg: variance, invariance and covariance terms (Bardes, Ponce & LeCun, 2022).

Applied to the batch of predictions (variance, covariance) and prediction vs. target
(invariance). The variance threshold defaults to ``std_scale / sqrt(D)``: on L2-normalised
D-dimensional embeddings the per-dimension std of an isotropic batch is about ``1/sqrt(D)``,
so the paper's threshold of 1 would be unreachable.
"""

from __future__ import annotations

import math

import attrs
import torch

from jasper_core import LossInputs
from jasper_core.validators import non_negative, positive


def variance_term(x: torch.Tensor, threshold: float, eps: float = 1e-8) -> torch.Tensor:
    """``[B, D] -> []``: mean hinge of each dimension's std below ``threshold``."""
    std = torch.sqrt(x.var(dim=0, unbiased=True) + eps) if x.shape[0] > 1 else torch.zeros(x.shape[1], device=x.device)
    return torch.relu(threshold - std).mean()


def covariance_term(x: torch.Tensor) -> torch.Tensor:
    """``[B, D] -> []``: sum of squared off-diagonal covariances divided by D."""
    b, d = x.shape
    if b < 2:
        return x.new_zeros(())
    xc = x - x.mean(dim=0)
    cov = xc.T @ xc / (b - 1)
    off = cov - torch.diag(torch.diagonal(cov))
    return off.pow(2).sum() / d


def invariance_term(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``[B, D], [B, D] -> []``: mean squared error over batch and dimensions (as in the paper)."""
    return (x - y).pow(2).mean()


@attrs.frozen(kw_only=True)
class VICRegConfig:
    variance_weight: float = attrs.field(default=1.0, validator=non_negative)
    invariance_weight: float = attrs.field(default=1.0, validator=non_negative)
    covariance_weight: float = attrs.field(default=1.0, validator=non_negative)
    std_threshold: float | None = attrs.field(default=None, validator=attrs.validators.optional(positive))
    std_scale: float = attrs.field(default=0.5, validator=positive)


class VICRegLoss(torch.nn.Module):
    """Weighted sum of the three VICReg terms; each is also logged on its own."""

    def __init__(self, config: VICRegConfig) -> None:
        super().__init__()
        self.config = config

    def threshold(self, dim: int) -> float:
        c = self.config
        return c.std_threshold if c.std_threshold is not None else c.std_scale / math.sqrt(dim)

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        c = self.config
        pred = inputs.prediction
        var = variance_term(pred, self.threshold(pred.shape[-1]))
        inv = invariance_term(pred, inputs.positive.detach())
        cov = covariance_term(pred)
        loss = c.variance_weight * var + c.invariance_weight * inv + c.covariance_weight * cov
        return {"loss": loss, "variance": var.detach(), "invariance": inv.detach(), "covariance": cov.detach()}
