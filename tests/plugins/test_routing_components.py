"""Router, decomposed model and routing losses as units."""

import math

import pytest
import torch

import attrs

from jasper_core import Router, StepState
from jasper_core.testing import random_loss_inputs
from jasper_plugins.encoders.residual_mlp import ResidualMLPEncoder, ResidualMLPEncoderConfig
from jasper_plugins.losses.disentanglement import DisentanglementLoss
from jasper_plugins.losses.residual_penalty import ResidualPenaltyConfig, ResidualPenaltyLoss
from jasper_plugins.losses.routing_ce import RoutingCEConfig, RoutingCELoss
from jasper_plugins.losses.routing_entropy import RoutingEntropyConfig, RoutingEntropyLoss
from jasper_plugins.models.decomposed import DecomposedPredictor, DecomposedPredictorConfig
from jasper_plugins.routers.gumbel_softmax import GumbelSoftmaxRouter, GumbelSoftmaxRouterConfig, line_prior


def test_router__gumbel_in_training_softmax_or_argmax_at_inference():
    router = GumbelSoftmaxRouter(GumbelSoftmaxRouterConfig(hidden_dim=8, hard=True), dim=6, num_clusters=4,
                                 temperature=lambda step, total: 0.5)
    q, s = torch.randn(5, 6), torch.randn(5, 6)
    w, logits = router.train()(q, s, state(0.5))
    assert w.shape == logits.shape == (5, 4) and torch.allclose(w.sum(1), torch.ones(5))
    assert bool(((w == 0) | (w == 1)).all())  # hard straight-through sample
    w_eval, logits_eval = router.eval()(q, s, state(1.0))
    assert torch.allclose(w_eval, logits_eval.softmax(-1))


def decomposed(**kw):
    enc = ResidualMLPEncoder(ResidualMLPEncoderConfig(hidden_dim=8), dim=6)
    router = GumbelSoftmaxRouter(GumbelSoftmaxRouterConfig(hidden_dim=8), dim=6, num_clusters=3,
                                 temperature=lambda step, total: 1.0)
    return DecomposedPredictor(DecomposedPredictorConfig(hidden_dim=8, **kw), dim=6, num_clusters=3,
                               centroids=torch.randn(3, 6), encoder=enc, router=router)


def test_line_prior__centroid_and_residual_hints_name_the_same_cluster():
    g = torch.Generator().manual_seed(0)
    centroids = torch.nn.functional.normalize(torch.randn(6, 16, generator=g), dim=-1)  # [C, D]
    clusters = torch.arange(6).repeat(4)  # [B]
    question = torch.nn.functional.normalize(centroids[clusters] + 0.9 * torch.randn(24, 16, generator=g), dim=-1)
    centroid_hint = torch.nn.functional.normalize(centroids[clusters] - question, dim=-1)
    residual_hint = question - centroids[clusters]
    for hint in (centroid_hint, residual_hint):
        assert torch.equal(line_prior(question, hint, centroids).argmax(-1), clusters)
    # no hint: nearest centroid by cosine, the prior is cos − 1
    none = line_prior(question, torch.zeros_like(question), centroids)
    assert torch.allclose(none, question @ centroids.T - 1, atol=1e-5)
    assert not torch.equal(none.argmax(-1), clusters)  # the question alone is ambiguous here


def test_decomposed__explanation_and_untrained_identity():
    model = decomposed(normalize_output=False).eval()
    q = torch.randn(4, 6)
    out = model(q, torch.zeros(4, 6), state(1.0, clusters=3, dim=6))
    ex = out.explanation
    assert ex["routing_weights"].shape == (4, 3) and ex["coarse"].shape == ex["fine"].shape == (4, 6)
    assert torch.allclose(out.prediction, ex["coarse"] + ex["fine"])
    assert torch.allclose(out.prediction, q, atol=1e-5)  # untrained: coarse + (q − coarse) = q
    assert torch.allclose(ex["atypicality"], ex["fine"].norm(dim=1))


class FixedRouter(Router):
    """Returns the given routing weights whatever the input."""

    def __init__(self, weights):
        super().__init__()
        self.weights = weights

    def forward(self, question, steering, state):
        return self.weights.expand(question.shape[0], -1), torch.log(self.weights).expand(question.shape[0], -1)


def test_decomposed__the_routing_moves_the_prediction_toward_the_routed_topic():
    enc = ResidualMLPEncoder(ResidualMLPEncoderConfig(hidden_dim=8), dim=6)
    anchors = torch.nn.functional.normalize(torch.randn(3, 6), dim=-1)
    st = StepState(step=1, total_steps=1, centroids=anchors)
    q = torch.randn(5, 6)
    preds = {}
    for name, w in (("uniform", torch.full((1, 3), 1 / 3)), ("topic-2", torch.tensor([[0.0, 0.0, 1.0]]))):
        model = DecomposedPredictor(DecomposedPredictorConfig(hidden_dim=8, normalize_output=False, anchor_scale=0.5),
                                    dim=6, num_clusters=3, centroids=anchors, encoder=enc, router=FixedRouter(w)).eval()
        out = model(q, torch.zeros(5, 6), st)
        preds[name] = out.prediction
        assert torch.allclose(out.prediction, out.explanation["coarse"] + out.explanation["fine"], atol=1e-6)
    # prediction = q + λ (routing − prior) @ A: the difference between two routings is λ (w1 − w2) @ A
    expected = 0.5 * (torch.tensor([0.0, 0.0, 1.0]) - torch.full((3,), 1 / 3)) @ anchors
    assert torch.allclose(preds["topic-2"] - preds["uniform"], expected.expand(5, -1), atol=1e-5)
    cos_to_topic = lambda p: torch.nn.functional.cosine_similarity(p, anchors[2].expand_as(p))  # noqa: E731
    assert bool((cos_to_topic(preds["topic-2"]) > cos_to_topic(preds["uniform"])).all())


def test_decomposed__learnable_anchors_frozen_until_the_schedule_then_move():
    model = decomposed(learnable_anchors=True, anchors_unfreeze_at=0.5, normalize_output=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    assert any(p is model.anchors for g in opt.param_groups for p in g["params"])  # in the optimiser from the start
    q, s = torch.randn(8, 6), torch.randn(8, 6)
    before = model.anchors.detach().clone()
    for progress, moves in ((0.2, False), (0.6, True)):
        opt.zero_grad()
        model(q, s, state(progress, clusters=3, dim=6)).prediction.pow(2).sum().backward()
        opt.step()
        assert (not torch.equal(model.anchors, before)) == moves
        before = model.anchors.detach().clone()


def state(progress, clusters=4, dim=6):
    return StepState(step=int(progress * 100), total_steps=100, centroids=torch.randn(clusters, dim))


def routing_inputs(logits, cluster, fine=None):
    base = random_loss_inputs(batch=logits.shape[0], dim=6, clusters=logits.shape[1])
    ex = {"routing_logits": logits, "routing_weights": logits.softmax(-1), "fine": fine if fine is not None else torch.zeros(logits.shape[0], 6)}
    return attrs.evolve(base, cluster=cluster, explanation=ex)


def test_routing_ce__low_when_confidently_right():
    cluster = torch.tensor([0, 1, 2])
    right = routing_inputs(torch.eye(3) * 20, cluster)
    wrong = routing_inputs(torch.eye(3).roll(1, 0) * 20, cluster)
    loss = RoutingCELoss(RoutingCEConfig())
    assert float(loss(right)["loss"]) < 1e-6 and float(loss(right)["accuracy"]) == 1.0
    assert float(loss(wrong)["loss"]) > 10


def test_routing_entropy__follows_the_target():
    loss = RoutingEntropyLoss(RoutingEntropyConfig(balance_weight=0.0), entropy_target=lambda step, total: 1.0)
    uniform = routing_inputs(torch.zeros(4, 5), torch.zeros(4, dtype=torch.long))
    assert float(loss(uniform)["loss"]) == pytest.approx(0.0, abs=1e-9)
    peaked = routing_inputs(torch.eye(5)[:4] * 30, torch.zeros(4, dtype=torch.long))
    assert float(loss(peaked)["loss"]) == pytest.approx(1.0, abs=1e-3)
    balanced = RoutingEntropyLoss(RoutingEntropyConfig(balance_weight=1.0), entropy_target=lambda step, total: 0.0)
    collapsed = routing_inputs(torch.tensor([[30.0, 0, 0]] * 4), torch.zeros(4, dtype=torch.long))
    assert float(balanced(collapsed)["loss"]) > 0.9  # everyone routed to one cluster


def test_residual_penalty__hinge_above_margin():
    loss = ResidualPenaltyLoss(ResidualPenaltyConfig(margin=1.0))
    small = routing_inputs(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), fine=torch.full((2, 6), 0.1))
    big = routing_inputs(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), fine=torch.full((2, 6), 1.0))
    assert float(loss(small)["loss"]) == 0.0
    assert float(loss(big)["loss"]) == pytest.approx(math.sqrt(6) - 1, rel=1e-5)  # max(0, ‖r‖ − margin)


def test_disentanglement__higher_under_collapse_than_under_balanced_routing():
    loss = DisentanglementLoss()
    c = 4
    balanced = torch.eye(c).repeat(3, 1)  # [12, 4] each subspace used by a quarter, exclusively
    collapsed = torch.zeros(12, c)
    collapsed[:, 0] = 1.0
    uniform = torch.full((12, c), 1.0 / c)
    value = {name: float(loss(routing_inputs(torch.log(w.clamp_min(1e-9)), torch.zeros(12, dtype=torch.long)))["loss"])
             for name, w in (("balanced", balanced), ("collapsed", collapsed), ("uniform", uniform))}
    assert value["balanced"] == pytest.approx(0.0, abs=1e-6)
    assert value["collapsed"] > 0.5 and value["uniform"] > 0.5, value


def test_routing_losses__say_which_model_they_need():
    from jasper_plugins.losses.routing_ce import RoutingCELoss

    with pytest.raises(ValueError, match='model.type = "decomposed"'):
        RoutingCELoss(RoutingCEConfig())(random_loss_inputs())
