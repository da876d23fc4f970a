"""Centroid classification: cross-entropy over cosine similarities to the cluster centroids."""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F

from jasper_core import LossInputs
from jasper_core.validators import positive
from jasper_plugins.nn import l2_normalize


@attrs.frozen(kw_only=True)
class CentroidLossConfig:
    temperature: float = attrs.field(default=0.1, validator=positive)


class CentroidLoss(torch.nn.Module):
    """The prediction should be closest to its own cluster's centroid; logs accuracy."""

    def __init__(self, config: CentroidLossConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        logits = l2_normalize(inputs.prediction) @ l2_normalize(inputs.centroids.detach()).T  # [B, C]
        logits = logits / self.config.temperature
        loss = F.cross_entropy(logits, inputs.cluster)
        accuracy = (logits.argmax(dim=1) == inputs.cluster).float().mean()
        return {"loss": loss, "accuracy": accuracy.detach()}
