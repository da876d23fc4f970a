"""Property checks for loss plugins: run them on your own loss in a few lines.

Example::

    from jasper_core.testing import check_loss_properties
    def test_my_loss():
        check_loss_properties(lambda: MyLoss(MyConfig()), scale_invariant=True)
"""

from __future__ import annotations

from typing import Callable

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from jasper_core.losses import LossInputs


def random_loss_inputs(*, batch: int = 8, dim: int = 16, negatives: int = 4, clusters: int = 3, seed: int = 0,
                       scale: float = 1.0, requires_grad: bool = False) -> LossInputs:
    """Random but valid :class:`LossInputs` (``scale`` multiplies every embedding)."""
    g = torch.Generator().manual_seed(seed)
    pred = (torch.randn(batch, dim, generator=g) * scale).requires_grad_(requires_grad)
    return LossInputs(
        prediction=pred,
        target=torch.randn(batch, dim, generator=g) * scale,
        negatives=torch.randn(batch, negatives, dim, generator=g) * scale,
        negative_tiers=torch.randint(0, 3, (batch, negatives), generator=g),
        centroids=torch.randn(clusters, dim, generator=g) * scale,
        cluster=torch.randint(0, clusters, (batch,), generator=g),
        explanation={}, schedule={"progress": 0.5},
    )


def permuted(inputs: LossInputs, perm: torch.Tensor) -> LossInputs:
    return LossInputs(
        prediction=inputs.prediction[perm], target=inputs.target[perm], negatives=inputs.negatives[perm],
        negative_tiers=inputs.negative_tiers[perm], centroids=inputs.centroids, cluster=inputs.cluster[perm],
        explanation={k: v[perm] for k, v in inputs.explanation.items()}, schedule=inputs.schedule,
    )


def rescaled(inputs: LossInputs, factor: float) -> LossInputs:
    return LossInputs(
        prediction=inputs.prediction * factor, target=inputs.target * factor, negatives=inputs.negatives * factor,
        negative_tiers=inputs.negative_tiers, centroids=inputs.centroids * factor, cluster=inputs.cluster,
        explanation=inputs.explanation, schedule=inputs.schedule,
    )


def check_loss_properties(make_loss: Callable[[], Callable[[LossInputs], dict]], *, non_negative: bool = True,
                          scale_invariant: bool = False, permutation_invariant: bool = True,
                          max_examples: int = 25) -> None:
    """Assert the invariants of a loss over hypothesis-drawn inputs.

    Checked: returns a dict with a scalar ``"loss"``; finite for finite inputs (also near-zero
    vectors); ``>= 0`` if ``non_negative``; unchanged under a permutation of the batch if
    ``permutation_invariant``; unchanged under positive rescaling if ``scale_invariant``;
    gradients with respect to the prediction are finite and not all zero.
    """

    @settings(max_examples=max_examples, deadline=None)
    @given(batch=st.integers(2, 9), dim=st.integers(2, 24), negatives=st.integers(1, 5), seed=st.integers(0, 10_000),
           scale=st.sampled_from([1e-7, 1e-3, 1.0, 30.0]), factor=st.floats(0.01, 100.0))
    def run(batch, dim, negatives, seed, scale, factor):
        loss = make_loss()
        inputs = random_loss_inputs(batch=batch, dim=dim, negatives=negatives, seed=seed, scale=scale, requires_grad=True)
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
    inputs = random_loss_inputs(requires_grad=True)
    loss(inputs)["loss"].backward()
    assert inputs.prediction.grad.abs().sum() > 0, "the loss gives no gradient to the prediction"
