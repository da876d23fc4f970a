"""Small building blocks shared by the built-in models and encoders."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}


def mlp(in_dim: int, hidden_dim: int, out_dim: int, *, num_layers: int, dropout: float = 0.0,
        activation: str = "gelu", layer_norm: bool = True, zero_last: bool = False) -> nn.Sequential:
    """An MLP ``[.., in_dim] -> [.., out_dim]`` with ``num_layers`` linear layers.

    Args:
        zero_last: initialise the last layer to zero, so a residual block starts as the identity.
    """
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(num_layers - 1):
        layers.append(nn.Linear(dim, hidden_dim))
        if layer_norm:
            layers.append(nn.LayerNorm(hidden_dim))
        layers.append(ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        dim = hidden_dim
    last = nn.Linear(dim, out_dim)
    if zero_last:
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    layers.append(last)
    return nn.Sequential(*layers)


class SteeringGate(nn.Module):
    """A direct, low-capacity path for the steering hint: ``gain · gate ⊙ steering`` (``[B, D]``).

    The per-dimension gate starts at 0, so an untrained model ignores the hint; the gain lets Adam
    move it at a useful rate while the MLPs learn slowly (their memorisation is what a low-capacity
    path avoids).
    """

    def __init__(self, dim: int, gain: float) -> None:
        super().__init__()
        self.gain = float(gain)
        self.weight = nn.Parameter(torch.zeros(dim))

    def forward(self, steering: torch.Tensor) -> torch.Tensor:
        return self.gain * self.weight * steering


def jitter(x: torch.Tensor, std: float, training: bool) -> torch.Tensor:
    """``x + std · ‖x‖ · ε / sqrt(D)`` in training (``ε`` standard normal), ``x`` otherwise.

    Noise on the input embedding keeps a small predictor from memorising its training questions:
    nearby questions must map to nearby predictions (a denoising regulariser).
    """
    if not training or std <= 0:
        return x
    scale = std * x.norm(dim=-1, keepdim=True) / x.shape[-1] ** 0.5
    return x + scale * torch.randn_like(x)


def l2_normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Unit-normalise the last dimension, safe for near-zero vectors."""
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)
