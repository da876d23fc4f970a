"""Loss invariants (hypothesis, via jasper_core.testing) and the known values of each loss."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import attrs

from conftest import examples
from jasper_core import LossInputs, StepState
from jasper_core.testing import check_loss_properties, random_loss_inputs
from jasper_plugins.losses.centroid import CentroidLoss, CentroidLossConfig
from jasper_plugins.losses.infonce import InfoNCEConfig, InfoNCELoss, uniform_infonce_value
from jasper_plugins.losses.jepa import JEPALoss, JEPALossConfig, smooth_l1_distance
from jasper_plugins.losses.disentanglement import DisentanglementLoss
from jasper_plugins.losses.residual_penalty import ResidualPenaltyConfig, ResidualPenaltyLoss
from jasper_plugins.losses.routing_ce import RoutingCEConfig, RoutingCELoss
from jasper_plugins.losses.routing_entropy import RoutingEntropyConfig, RoutingEntropyLoss
from jasper_plugins.losses.vicreg import VICRegConfig, VICRegLoss, covariance_term, variance_term


@pytest.mark.parametrize("make, scale_invariant", [
    (lambda: JEPALoss(JEPALossConfig()), True),
    (lambda: InfoNCELoss(InfoNCEConfig()), True),
    (lambda: InfoNCELoss(InfoNCEConfig(in_batch=False, tier_weights=(2.0, 1.0, 0.5))), True),
    (lambda: CentroidLoss(CentroidLossConfig()), True),
    (lambda: VICRegLoss(VICRegConfig(std_threshold=0.05)), False),
], ids=["jepa", "infonce", "infonce-tiers", "centroid", "vicreg"])
def test_builtin_loss__shared_properties(make, scale_invariant):
    check_loss_properties(make, scale_invariant=scale_invariant, max_examples=examples())


@pytest.mark.parametrize("make", [
    lambda: RoutingCELoss(RoutingCEConfig()),
    lambda: RoutingEntropyLoss(RoutingEntropyConfig(), entropy_target=lambda step, total: 0.5),
    lambda: ResidualPenaltyLoss(ResidualPenaltyConfig(margin=0.5)),
    lambda: DisentanglementLoss(),
], ids=["routing_ce", "routing_entropy", "residual_penalty", "disentanglement"])
def test_routing_loss__shared_properties(make):
    check_loss_properties(make, routing=True, max_examples=max(examples() // 2, 10))


@given(batch=st.integers(1, 8), k=st.integers(1, 6), dim=st.integers(2, 16))
def test_infonce__equals_log_1_plus_k_when_all_similarities_equal(batch, k, dim):
    v = torch.zeros(dim)
    v[0] = 1.0
    inputs = LossInputs(prediction=v.expand(batch, dim).clone(), positive=v.expand(batch, dim).clone(),
                        negatives=v.expand(batch, k, dim).clone(), negative_tiers=torch.zeros(batch, k, dtype=torch.long),
                        state=StepState(step=0, total_steps=1, centroids=v.unsqueeze(0)),
                        cluster=torch.zeros(batch, dtype=torch.long))
    out = InfoNCELoss(InfoNCEConfig(in_batch=False, false_negative_threshold=1.5))(inputs)  # > 1: no filter
    assert math.isclose(float(out["loss"]), uniform_infonce_value(k), rel_tol=1e-5)


def test_infonce__leaves_out_false_negatives_and_masked_tiers():
    inputs = random_loss_inputs(batch=4, dim=8, negatives=3, seed=1)
    loss = InfoNCELoss(InfoNCEConfig(in_batch=False))
    base = float(loss(inputs)["loss"])
    dup = inputs.negatives.clone()
    dup[:, 0] = inputs.positive * 2.0  # a near-duplicate of the answer (any scale)
    masked = attrs.evolve(inputs, negative_tiers=inputs.negative_tiers.clone().fill_(0))
    masked.negative_tiers[:, 0] = -1  # not a negative for this split
    without_first = attrs.evolve(inputs, negatives=inputs.negatives[:, 1:], negative_tiers=inputs.negative_tiers[:, 1:])
    expected = float(loss(without_first)["loss"])
    assert float(loss(attrs.evolve(inputs, negatives=dup))["loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(loss(masked)["loss"]) == pytest.approx(expected, rel=1e-5)
    assert base != pytest.approx(expected)


@given(seed=st.integers(0, 1000), beta=st.floats(1e-3, 1.0))
def test_jepa__zero_iff_prediction_equals_target(seed, beta):
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(seed))
    assert float(smooth_l1_distance(x, x, beta).sum()) == 0.0
    y = x.clone()
    y[0, 0] += 0.5
    assert float(smooth_l1_distance(x, y, beta)[0]) > 0 and float(smooth_l1_distance(x, y, beta)[1:].sum()) == 0


@given(seed=st.integers(0, 1000), threshold=st.floats(0.05, 2.0))
def test_vicreg__variance_zero_iff_every_std_reaches_threshold(seed, threshold):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 6, generator=g)
    x = (x - x.mean(0)) / x.std(0)  # every dimension std exactly 1
    assert float(variance_term(x * threshold * 1.01, threshold)) == 0.0
    shrunk = x * threshold * 1.01
    shrunk[:, 2] *= 0.5  # one dimension below the threshold
    assert float(variance_term(shrunk, threshold)) > 0


def test_vicreg__covariance_zero_for_diagonal_covariance():
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])  # uncorrelated dimensions
    assert float(covariance_term(x)) == pytest.approx(0.0, abs=1e-7)
    assert float(covariance_term(torch.tensor([[1.0, 1.0], [-1.0, -1.0], [2.0, 2.0]]))) > 0


def test_vicreg__default_threshold_is_meaningful_for_unit_vectors():
    loss = VICRegLoss(VICRegConfig())
    assert loss.threshold(384) == pytest.approx(0.5 / math.sqrt(384))
    spread = torch.nn.functional.normalize(torch.randn(512, 384), dim=1)  # isotropic unit vectors
    assert float(variance_term(spread, loss.threshold(384))) == 0.0


def test_centroid__decreases_as_prediction_moves_toward_true_centroid():
    inputs = random_loss_inputs(batch=6, dim=12, clusters=4, seed=3)
    true = inputs.centroids[inputs.cluster]
    loss = CentroidLoss(CentroidLossConfig())
    values = []
    for t in torch.linspace(0, 1, 6):
        moved = attrs.evolve(inputs, prediction=(1 - t) * inputs.prediction + t * true)
        values.append(float(loss(moved)["loss"]))
    assert all(b < a for a, b in zip(values, values[1:])), values
    assert float(loss(moved)["accuracy"]) == 1.0


def test_infonce_tier_weights__add_log_weight_per_tier_without_a_host_read():
    """Tier t's negatives get log w_t added to their logit; tiers past the list weigh 1; tier -1 is masked."""
    inputs = random_loss_inputs(batch=6, negatives=4, seed=3)
    tiers = torch.tensor([[0, 1, 2, -1]] * 6)
    inputs = attrs.evolve(inputs, negative_tiers=tiers)
    weighted = InfoNCELoss(InfoNCEConfig(in_batch=False, tier_weights=(2.0, 0.5)))(inputs)["loss"]
    t = InfoNCEConfig().temperature
    norm = torch.nn.functional.normalize
    pred, pos, neg = norm(inputs.prediction, dim=-1), norm(inputs.positive, dim=-1), norm(inputs.negatives, dim=-1)
    pos_logit = (pred * pos).sum(-1) / t
    neg_logits = (pred.unsqueeze(1) * neg).sum(-1) / t + torch.tensor([math.log(2.0), math.log(0.5), 0.0, 0.0])
    neg_logits[:, 3] = float("-inf")
    expected = (torch.logsumexp(torch.cat([pos_logit[:, None], neg_logits], 1), 1) - pos_logit).mean()
    assert float(weighted) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16-autocast"])
def test_infonce_gather__sends_the_positives_in_the_dtype_of_the_products(autocast):
    """Gathered in-batch negatives cross the wire in the dtype autocast multiplies in (bf16: half the
    bytes); the loss equals the one of a float32 gather, whose rows autocast casts to that dtype anyway."""
    inputs = random_loss_inputs(batch=6, negatives=3, seed=5)
    sent = []

    def gather(rows):  # a two-rank "gather": this rank's rows and another rank's (the same rows, flipped)
        sent.append(rows.dtype)
        return torch.cat([rows, rows.flip(0)])

    loss = InfoNCELoss(InfoNCEConfig(false_negative_threshold=0.99))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = loss(attrs.evolve(inputs, gather_rows=gather))["loss"]
        reference = loss(attrs.evolve(inputs, gather_rows=lambda rows: gather(rows.float())))["loss"]
    assert sent == [torch.bfloat16 if autocast else torch.float32, torch.float32]
    assert torch.equal(out, reference)


def test_infonce__under_bf16_autocast_a_duplicate_negative_is_still_left_out():
    """The hard negatives enter the products in bf16 under autocast, but the near-duplicate test reads them in
    float32: rounded, an exact duplicate's cosine fell to about 0.9993, under a threshold of 0.9999."""
    inputs = random_loss_inputs(batch=64, dim=384, negatives=4, seed=3)
    dup = inputs.negatives.clone()
    dup[:, 0] = inputs.positive * 3.0  # the answer itself, rescaled
    with_dup = attrs.evolve(inputs, negatives=dup, negative_tiers=inputs.negative_tiers.clone().fill_(0))
    without = attrs.evolve(with_dup, negatives=dup[:, 1:], negative_tiers=with_dup.negative_tiers[:, 1:])
    loss = InfoNCELoss(InfoNCEConfig(in_batch=False, false_negative_threshold=0.9999))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert float(loss(with_dup)["loss"]) == pytest.approx(float(loss(without)["loss"]), rel=1e-6)


@pytest.mark.parametrize("threshold", [0.95, 0.999, 0.9999])
def test_infonce__under_bf16_autocast_the_positive_and_its_exact_duplicates_are_never_in_batch_negatives(threshold):
    """In-batch similarities are bf16 products under autocast, which put a cosine of 1 near 0.996: with a
    threshold of 0.999 the positive itself stayed among its own negatives and the loss could not fall
    below log 2. Here the model predicts every answer and row 5's answer is row 2's: the loss is near 0,
    as in float32."""
    inputs = random_loss_inputs(batch=64, dim=384, negatives=4, seed=3)
    positive = inputs.positive.clone()
    positive[5] = positive[2]  # two questions of one source passage in the batch
    inputs = attrs.evolve(inputs, positive=positive, prediction=positive * 2.0)
    loss = InfoNCELoss(InfoNCEConfig(false_negative_threshold=threshold))
    full = float(loss(inputs)["loss"])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = float(loss(inputs)["loss"])
    assert full < 1e-3 and half == pytest.approx(full, abs=0.02)


def test_cosine_logsumexp__equals_logsumexp_with_its_gradient_and_a_fully_masked_row_is_finite():
    from jasper_plugins.losses.infonce import cosine_logsumexp

    t = 0.05
    cos = torch.nn.functional.normalize(torch.randn(6, 8), dim=1) @ torch.nn.functional.normalize(torch.randn(10, 8), dim=1).T
    logits = (cos / t).masked_fill(torch.rand(6, 10, generator=torch.Generator().manual_seed(0)) < 0.3, float("-inf"))
    logits[5] = float("-inf")  # every in-batch entry a near-duplicate of the answer
    a, b = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
    ours, ref = cosine_logsumexp(a, 1 / t), torch.logsumexp(b, dim=1)
    assert torch.allclose(ours[:5], ref[:5], atol=1e-5) and ref[5] == float("-inf")
    assert torch.isfinite(ours[5]) and ours[5] < 1 / t - 80  # finite, and far below any logit's share
    ours[:5].sum().backward(retain_graph=True)
    ref[:5].sum().backward()
    assert torch.allclose(a.grad[:5], b.grad[:5], atol=1e-6)  # (ATen gives the fully masked row NaN: 0 · exp(-inf + inf))
    a.grad = None
    ours.sum().backward()  # the fully masked row's gradient: zero, not NaN
    assert torch.isfinite(a.grad).all() and (a.grad[5] == 0).all()
    nan = logits.clone()
    nan[0, 0] = float("nan")  # a NaN still reaches the loss (the non-finite guard reads it there), not clamped away
    assert cosine_logsumexp(nan, 1 / t)[0].isnan() and torch.isfinite(cosine_logsumexp(nan, 1 / t)[1:]).all()


@pytest.mark.parametrize("temperature, one_pass", [(0.05, True), (0.02, False)])
def test_infonce__compiled_in_batch_block_in_one_pass_gives_the_eager_loss(monkeypatch, temperature, one_pass):
    import jasper_plugins.losses.infonce as infonce

    inputs = random_loss_inputs(batch=12, dim=16, negatives=3, seed=4)
    inputs = attrs.evolve(inputs, prediction=inputs.prediction.clone().requires_grad_(True))
    loss = InfoNCELoss(InfoNCEConfig(temperature=temperature))
    eager = loss(inputs)["loss"]
    (grad,) = torch.autograd.grad(eager, inputs.prediction)
    calls = []
    real = infonce.cosine_logsumexp
    monkeypatch.setattr(infonce, "cosine_logsumexp", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)  # the branch a compiled step takes
    compiled = loss(inputs)["loss"]
    (grad_compiled,) = torch.autograd.grad(compiled, inputs.prediction)
    assert bool(calls) == one_pass  # below t = 1/30 the span is too wide: torch.logsumexp
    assert torch.allclose(eager, compiled, atol=1e-6) and torch.allclose(grad, grad_compiled, atol=1e-6)
