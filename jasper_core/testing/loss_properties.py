"""Property checks for loss plugins: run them on your own loss in a few lines.

Example::

    from jasper_core.testing import check_loss_properties
    def test_my_loss():
        check_loss_properties(lambda: MyLoss(MyConfig()), scale_invariant=True)
"""

from __future__ import annotations

from typing import Callable

import attrs
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from jasper_core.contracts import ATYPICALITY, FINE, ROUTING_LOGITS, ROUTING_WEIGHTS, LossInputs, StepState


def random_loss_inputs(*, batch: int = 8, dim: int = 16, negatives: int = 4, clusters: int = 3, seed: int = 0,
                       scale: float = 1.0, requires_grad: bool = False, routing: bool = False,
                       step: int = 5, total_steps: int = 10) -> LossInputs:
    """Random but valid :class:`LossInputs` (``scale`` multiplies every embedding).

    With ``routing`` the explanation holds what a routing model returns (routing logits and
    weights ``[B, C]``, fine residual ``[B, D]``, atypicality ``[B]``), with gradients flowing from
    the prediction so routing losses can be checked like any other.
    """
    g = torch.Generator().manual_seed(seed)
    pred = (torch.randn(batch, dim, generator=g) * scale).requires_grad_(requires_grad)
    explanation = {}
    if routing:
        logits = torch.randn(batch, clusters, generator=g) * 2 + pred[:, :1] * 0.1
        fine = pred * 0.5
        explanation = {ROUTING_LOGITS: logits, ROUTING_WEIGHTS: logits.softmax(-1), FINE: fine, ATYPICALITY: fine.norm(dim=-1)}
    return LossInputs(
        prediction=pred,
        positive=torch.randn(batch, dim, generator=g) * scale,
        negatives=torch.randn(batch, negatives, dim, generator=g) * scale,
        negative_tiers=torch.randint(0, 3, (batch, negatives), generator=g),
        cluster=torch.randint(0, clusters, (batch,), generator=g),
        state=StepState(step=step, total_steps=total_steps, centroids=torch.randn(clusters, dim, generator=g) * scale),
        explanation=explanation,
    )


def permuted(inputs: LossInputs, perm: torch.Tensor) -> LossInputs:
    return attrs.evolve(
        inputs, prediction=inputs.prediction[perm], positive=inputs.positive[perm], negatives=inputs.negatives[perm],
        negative_tiers=inputs.negative_tiers[perm], cluster=inputs.cluster[perm],
        explanation={k: v[perm] for k, v in inputs.explanation.items()},
    )


def rescaled(inputs: LossInputs, factor: float) -> LossInputs:
    return attrs.evolve(
        inputs, prediction=inputs.prediction * factor, positive=inputs.positive * factor,
        negatives=inputs.negatives * factor, state=attrs.evolve(inputs.state, centroids=inputs.state.centroids * factor),
    )


def check_loss_properties(make_loss: Callable[[], Callable[[LossInputs], dict]], *, non_negative: bool = True,
                          scale_invariant: bool = False, permutation_invariant: bool = True,
                          routing: bool = False, max_examples: int = 25) -> None:
    """Assert the invariants of a loss over hypothesis-drawn inputs.

    Checked: returns a dict with a scalar ``"loss"``; finite for finite inputs (also near-zero
    vectors); ``>= 0`` if ``non_negative``; unchanged under a permutation of the batch if
    ``permutation_invariant``; unchanged under positive rescaling if ``scale_invariant``;
    gradients with respect to the prediction are finite and not all zero. ``routing``: the
    inputs carry a routing model's explanation (for losses of routing outputs).
    """

    @settings(max_examples=max_examples, deadline=None)
    @given(batch=st.integers(2, 9), dim=st.integers(2, 24), negatives=st.integers(1, 5), seed=st.integers(0, 10_000),
           scale=st.sampled_from([1e-7, 1e-3, 1.0, 30.0]), factor=st.floats(0.01, 100.0))
    def run(batch, dim, negatives, seed, scale, factor):
        loss = make_loss()
        inputs = random_loss_inputs(batch=batch, dim=dim, negatives=negatives, seed=seed, scale=scale,
                                    requires_grad=True, routing=routing)
        out = loss(inputs)
        assert isinstance(out, dict) and "loss" in out, "a loss must return a dict with a 'loss' entry"
        value = out["loss"]
        assert value.dim() == 0, f"'loss' must be a scalar, got shape {tuple(value.shape)}"
        assert torch.isfinite(value.detach()), f"loss is {float(value.detach())} for finite inputs (scale {scale})"
        for key, extra in out.items():
            assert torch.isfinite(torch.as_tensor(extra)).all(), f"component {key!r} is not finite"
        if non_negative:
            assert float(value.detach()) >= -1e-6, f"loss is negative: {float(value.detach())}"
        value.backward()
        grad = inputs.prediction.grad
        assert grad is not None and torch.isfinite(grad).all(), "gradient w.r.t. the prediction is missing or not finite"
        with torch.no_grad():
            if permutation_invariant:
                perm = torch.randperm(batch, generator=torch.Generator().manual_seed(seed))
                base = float(value.detach())
                again = float(loss(permuted(inputs, perm))["loss"])
                assert abs(again - base) <= 1e-4 * max(1.0, abs(base)), "loss changes when the batch is permuted"
            if scale_invariant and scale >= 1e-3:
                base = float(value.detach())
                again = float(loss(rescaled(inputs, factor))["loss"])
                assert abs(again - base) <= 1e-3 * max(1.0, abs(base)), f"loss changes under rescaling by {factor}"

    run()
    loss = make_loss()
    inputs = random_loss_inputs(requires_grad=True, routing=routing)
    loss(inputs)["loss"].backward()
    assert inputs.prediction.grad.abs().sum() > 0, "the loss gives no gradient to the prediction"
