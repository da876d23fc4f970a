"""InfoNCE over the positive source and the hard negatives (optionally in-batch negatives too).

van den Oord et al. (2018), "Representation Learning with Contrastive Predictive Coding".
Similarities are cosines, so the loss is unchanged by positive rescaling of any embedding.

In a multi-process job the in-batch negatives are the positives of every rank's batch (declared
``distributed = "gather"``), so the loss equals the one-process loss on the global batch. The
partition function is a log-sum-exp over the positive, the hard negatives and the in-batch block,
taken block by block: the only ``[B, W·B]`` tensor kept is the in-batch logits themselves.
"""

from __future__ import annotations

import math

import attrs
import torch

from jasper_core import LossInputs
from jasper_core.contracts.loss import GATHER, LOCAL, Distributed
from jasper_core.validators import each, positive
from jasper_plugins.nn import l2_normalize


@attrs.frozen(kw_only=True)
class InfoNCEConfig:
    temperature: float = attrs.field(default=0.05, validator=positive)
    in_batch: bool = True
    tier_weights: tuple[float, ...] = attrs.field(default=(), validator=each(positive))
    false_negative_threshold: float = attrs.field(default=0.95, validator=positive)
    gather: bool = True


class InfoNCELoss(torch.nn.Module):
    """Cross-entropy of picking the true source among itself and the negatives.

    ``tier_weights[t]`` multiplies the weight of each negative of tier ``t`` in the partition
    function (adds ``log w`` to its logit); tiers beyond the list get weight 1. A negative of tier
    -1 (not a negative for this split) and a negative whose cosine to the positive exceeds
    ``false_negative_threshold`` (a near-duplicate of the answer: a false negative) are left out
    (in-batch, the threshold is at most what the products' dtype resolves: :func:`duplicate_limit`).
    With ``in_batch`` and ``gather`` the in-batch negatives come from every rank of a multi-process job.
    """

    def __init__(self, config: InfoNCEConfig) -> None:
        super().__init__()
        self.config = config
        # log weight of each tier; tiers past the list (and -1, masked anyway) read the last entry, log 1 = 0
        self.register_buffer("log_tier_weights", torch.tensor([*config.tier_weights, 1.0]).log(), persistent=False)

    @property
    def distributed(self) -> Distributed:
        """``"gather"`` when in-batch negatives are gathered from every rank, else ``"local"``."""
        return GATHER if self.config.in_batch and self.config.gather else LOCAL

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        t = self.config.temperature
        pred = l2_normalize(inputs.prediction)  # [B, D]
        pos = l2_normalize(inputs.positive.detach())  # [B, D]
        neg = l2_normalize(inputs.negatives.detach())  # [B, K, D]
        pos_logit = (pred * pos).sum(-1, keepdim=True) / t  # [B, 1]
        # products and sums, not einsum: as a batched matmul of B [1, D] × [D, K] products it ran slow
        # skinny GEMM kernels on the GPU; this is one pass over the negatives that a compiler fuses. The
        # negatives enter in the dtype autocast multiplies in (bf16: the [B, K, D] tensor backward keeps is
        # half the bytes); the products and sums run in float32
        neg_logits = (pred.unsqueeze(1) * matmul_dtype(neg)).sum(-1) / t  # [B, K]
        # the near-duplicate test on float32 negatives: bf16 rounding took an exact duplicate's cosine to ~0.9993
        false_neg = (pos.unsqueeze(1) * neg).sum(-1) > self.config.false_negative_threshold  # [B, K]
        neg_logits = neg_logits.masked_fill(false_neg | (inputs.negative_tiers < 0), float("-inf"))
        if self.config.tier_weights:  # a table lookup: no host read (a captured step cannot read the device)
            last = len(self.config.tier_weights)
            neg_logits = neg_logits + self.log_tier_weights[inputs.negative_tiers.clamp(0, last)]
        pos_logit = pos_logit.squeeze(1)  # [B]
        parts = [pos_logit, torch.logsumexp(neg_logits, dim=1)]  # log-partition blocks, each [B]
        rivals = [neg_logits.detach().amax(dim=1)] if neg_logits.shape[1] else []
        if self.config.in_batch:
            # gathered in the dtype autocast multiplies in (bf16: half the bytes, the same products)
            pool = inputs.gather_rows(matmul_dtype(pos)) if self.distributed == GATHER else pos  # [N, D], N = W·B
            if pool.shape[0] > 1:
                batch_logits = (pred @ pool.T).div_(t)  # [B, N]
                sims = pos @ pool.T  # [B, N], in autocast's dtype under autocast
                same = sims > duplicate_limit(self.config.false_negative_threshold, sims.dtype)  # the positive, its near-duplicates
                del sims
                batch_logits.masked_fill_(same, float("-inf"))
                del same
                # compiled, one pass over the [B, N] block (cosine_logsumexp: cosines over t lie in [-1/t, 1/t]);
                # eager, ATen's own kernel, which keeps no float32 copy of the block for backward
                shifted = 2 / t <= SHIFT_SPAN and torch.compiler.is_compiling()
                parts.append(cosine_logsumexp(batch_logits, 1 / t) if shifted else torch.logsumexp(batch_logits, dim=1))
                rivals.append(batch_logits.amax(dim=1).detach())
        log_partition = torch.logsumexp(torch.stack(parts, dim=1), dim=1)  # [B]
        loss = (log_partition - pos_logit).mean()
        correct = pos_logit.detach() >= torch.stack(rivals, dim=1).amax(dim=1) if rivals else torch.ones_like(pos_logit)
        return {"loss": loss, "accuracy": correct.float().mean()}


# the widest logit range cosine_logsumexp takes: exp(x − bound) ≥ e^−60, far above float32's underflow (e^−87)
SHIFT_SPAN = 60.0


def cosine_logsumexp(logits: torch.Tensor, bound: float) -> torch.Tensor:
    """``[B, N] -> [B]`` float32: ``log Σ_j exp(logits[:, j])`` for logits in ``[−bound, bound]`` (cosines over a
    temperature; -inf entries are left out), as ``bound + log Σ_j exp(logits − bound)``.

    Shifted by the bound, not by each row's maximum: one pass over the block. ``torch.logsumexp`` takes the
    row's maximum first (and masks it where infinite), so inductor reads the ``[B, N]`` block twice, where
    it is the step's largest tensor. For ``2·bound ≤ SHIFT_SPAN`` no term that matters underflows. A row whose
    entries are all -inf gives ``bound + log(tiny)`` (about ``bound − 87``), not -inf, and no gradient: next to
    any logit ``≥ −bound`` its share of a partition is below ``e^−27``.
    """
    total = (logits.float() - bound).exp().sum(dim=1)
    return total.clamp_min(torch.finfo(torch.float32).tiny).log() + bound


def duplicate_limit(threshold: float, dtype: torch.dtype) -> float:
    """The cosine above which an in-batch row counts as the positive or a near-duplicate of it, for
    similarities computed in ``dtype``: ``threshold``, but at most ``1 − eps(dtype)`` (and ``1 − 1e-6``).
    A product in bf16 resolves cosines near 1 only to about its ``eps`` (2⁻⁷): the positive itself and
    exact duplicates (cosine 1 in float32) came out at ``1 − eps/2`` (0.99609375), so a threshold of 0.999 left
    the positive among its own negatives (the loss could not fall below log 2)."""
    return min(threshold, 1 - max(1e-6, torch.finfo(dtype).eps))


def matmul_dtype(x: torch.Tensor) -> torch.Tensor:
    """``x`` in the dtype autocast gives its matrix products on ``x``'s device (``x`` itself without autocast)."""
    device = x.device.type
    return x.to(torch.get_autocast_dtype(device)) if torch.is_autocast_enabled(device) else x


def uniform_infonce_value(num_negatives: int) -> float:
    """The loss when every similarity is equal: ``log(1 + K)``."""
    return math.log(1 + num_negatives)
