"""The target space: where positives, negatives, centroids and the corpus are compared.

``ema``: a copy of the online encoder updated as ``θ_t ← d·θ_t + (1−d)·θ_online`` (``d``: the
decay, from the ``target_space.decay`` schedule) after every optimiser step (BYOL, Grill et al. 2020; I-JEPA). ``frozen``: the copy is never updated.
``identity``: the raw embedding space.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class TargetSpace(nn.Module):
    """Encodes raw embeddings ``[..., D]`` into the target space ``[..., D]``; never trained by gradients."""

    def __init__(self, mode: str, online_encoder: nn.Module | None) -> None:
        super().__init__()
        if mode not in ("ema", "frozen", "identity"):
            raise ValueError(f'target space must be "ema", "frozen" or "identity", got {mode!r}')
        self.mode = mode
        self.encoder = None
        if mode != "identity":
            if online_encoder is None:
                raise ValueError(f'target space {mode!r} needs an online encoder and the model has none; '
                                 'set target_space.mode = "identity"')
            self.encoder = copy.deepcopy(online_encoder)
            self.encoder.requires_grad_(False)
            self.encoder.eval()

    def train(self, mode: bool = True) -> "TargetSpace":
        super().train(mode)
        if self.encoder is not None:
            self.encoder.eval()  # the target always runs in eval mode (no dropout)
        return self

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder is None:
            return x
        shape = x.shape
        return self.encoder(x.reshape(-1, shape[-1])).reshape(shape)

    @torch.no_grad()
    def encode(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Encode several tensors ``[..., D]`` in one call (one pass of the encoder over all their
        rows); returns them in their own shapes."""
        if self.encoder is None:
            return xs
        rows = [x.reshape(-1, x.shape[-1]) for x in xs]
        out = self.encoder(torch.cat(rows)).split([r.shape[0] for r in rows])
        return tuple(o.reshape(x.shape) for o, x in zip(out, xs))

    @torch.no_grad()
    def update(self, online_encoder: nn.Module, decay: float, apply: torch.Tensor | None = None) -> None:
        """One EMA step towards ``online_encoder`` (no-op for ``frozen`` and ``identity``).

        Args:
            apply: a 0-dim bool tensor on the device; where False the target is left as it is
                (a step skipped on the device), without a host read.
        """
        if self.mode != "ema":
            return
        target = list(self.encoder.parameters())
        online = [p.detach() for p in online_encoder.parameters()]
        if len(target) != len(online):
            raise ValueError("online and target encoders have different parameters")
        if apply is None:
            torch._foreach_lerp_(target, online, 1.0 - decay)
        else:  # the weight (1 − d)·apply is a device tensor: no host read
            weight = apply.to(target[0].dtype) * (1.0 - decay)
            if torch.compiler.is_compiling():
                # t + w·(o − t), lerp's own formula for w < 0.5: inductor makes one kernel of these foreach
                # ops, where a lerp with a tensor weight runs as one lerp and one copy per tensor
                torch._foreach_add_(target, torch._foreach_mul(torch._foreach_sub(online, target), weight))
            else:
                torch._foreach_lerp_(target, online, [weight] * len(target))
        for tb, ob in zip(self.encoder.buffers(), online_encoder.buffers()):
            tb.copy_(ob)
