"""Residual MLP encoder ``x -> x + MLP(x)``; the identity at initialisation."""

from __future__ import annotations

import attrs
import torch
from torch import nn

from jasper_core.validators import at_least, one_of, probability
from jasper_plugins.nn import ACTIVATIONS, mlp


@attrs.frozen(kw_only=True)
class ResidualMLPEncoderConfig:
    hidden_dim: int = attrs.field(default=512, validator=at_least(1))
    num_layers: int = attrs.field(default=2, validator=at_least(1))
    dropout: float = attrs.field(default=0.0, validator=probability)
    activation: str = attrs.field(default="gelu", validator=one_of(ACTIVATIONS))


class ResidualMLPEncoder(nn.Module):
    """Maps raw embeddings ``[N, D]`` into the target space ``[N, D]``.

    Starts as the identity (zero-initialised last layer), so the target space begins as the raw
    embedding space and retrieval at step 0 equals plain cosine retrieval.
    """

    def __init__(self, config: ResidualMLPEncoderConfig, *, dim: int) -> None:
        super().__init__()
        self.net = mlp(dim, config.hidden_dim, dim, num_layers=config.num_layers, dropout=config.dropout,
                       activation=config.activation, layer_norm=True, zero_last=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)
