"""The plugin module named by the ``jasper`` entry point."""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F

from jasper_core import LossInputs, Router, StepState, hookimpl
from jasper_core.validators import non_negative, positive


@attrs.frozen(kw_only=True)
class FocalInfoNCEConfig:
    temperature: float = attrs.field(default=0.07, validator=positive)
    gamma: float = attrs.field(default=2.0, validator=non_negative)


class FocalInfoNCE(torch.nn.Module):
    """Focal-weighted InfoNCE over the positive and the hard negatives (Lin et al., 2017 focal weighting)."""

    def __init__(self, config: FocalInfoNCEConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        pred = F.normalize(inputs.prediction, dim=-1, eps=1e-8)  # [B, D]
        pos = F.normalize(inputs.positive, dim=-1, eps=1e-8)  # [B, D]
        neg = F.normalize(inputs.negatives, dim=-1, eps=1e-8)  # [B, K, D]
        logits = torch.cat([(pred * pos).sum(-1, keepdim=True), torch.einsum("bd,bkd->bk", pred, neg)], 1)
        log_p = F.log_softmax(logits / self.config.temperature, dim=1)[:, 0]  # [B]
        weight = (1 - log_p.exp()).clamp_min(0) ** self.config.gamma
        return {"loss": -(weight * log_p).mean(), "p_positive": log_p.exp().mean().detach()}


@attrs.frozen(kw_only=True)
class CentroidCosineRouterConfig:
    temperature: float = attrs.field(default=0.1, validator=positive)


class CentroidCosineRouter(Router):
    """Routing weights ``[B, C]`` from cosine similarity of question + steering to learned centroids."""

    def __init__(self, config: CentroidCosineRouterConfig, *, dim: int, num_clusters: int, **_: object) -> None:
        super().__init__()
        self.config = config
        self.centroids = torch.nn.Parameter(torch.randn(num_clusters, dim) / dim**0.5)

    def forward(self, question: torch.Tensor, steering: torch.Tensor, state: StepState):
        x = F.normalize(question + steering, dim=-1, eps=1e-8)
        logits = x @ F.normalize(self.centroids, dim=-1).T / self.config.temperature  # [B, C]
        return logits.softmax(dim=-1), logits


@hookimpl
def jasper_register_losses(registry):
    registry.add("focal_infonce", FocalInfoNCE, config=FocalInfoNCEConfig)


@hookimpl
def jasper_register_routers(registry):
    registry.add("centroid_cosine", CentroidCosineRouter, config=CentroidCosineRouterConfig)
