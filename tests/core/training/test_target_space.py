"""EMA target encoder, one embedding space, gradients to the online encoder."""

import copy

import pytest
import torch

from jasper_core.recipe import recipe_from_text
from jasper_core.training.assemble import assemble
from jasper_core.training.step import encode_targets, train_step
from jasper_core.training.target_space import TargetSpace
from jasper_core.training.batches import epoch_batches


def _moved_online():
    """An EMA target space and its online encoder moved away from it; the target's weights before."""
    online = torch.nn.Linear(4, 4)
    target = TargetSpace("ema", online)
    before = copy.deepcopy(target.encoder.state_dict())
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    return online, target, before


@pytest.mark.parametrize("apply", [None, torch.tensor(True)])  # a host float weight, or a device flag
def test_target_space__ema_update_formula(apply):
    online, target, before = _moved_online()
    target.update(online, 0.9, apply)
    for name, value in target.encoder.state_dict().items():
        expected = 0.9 * before[name] + 0.1 * online.state_dict()[name]
        assert torch.allclose(value, expected, atol=1e-6)


def test_target_space__never_trains_and_stays_in_eval():
    target = TargetSpace("ema", torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5)))
    target.train()
    assert not target.encoder.training
    assert all(not p.requires_grad for p in target.encoder.parameters())
    x = torch.randn(3, 4, requires_grad=True)
    assert not target(x).requires_grad


def test_target_space__frozen_and_identity():
    online = torch.nn.Linear(4, 4)
    frozen = TargetSpace("frozen", online)
    before = copy.deepcopy(frozen.encoder.state_dict())
    with torch.no_grad():
        online.weight.add_(1.0)
    frozen.update(online, 0.0)
    assert all(torch.equal(v, before[k]) for k, v in frozen.encoder.state_dict().items())
    x = torch.randn(2, 4)
    assert TargetSpace("identity", None)(x) is x
    with pytest.raises(ValueError, match="target space"):
        TargetSpace("weird", online)


@pytest.fixture
def setup(tiny_recipe_text, registries):
    return assemble(recipe_from_text(tiny_recipe_text, registries), registries)


def _batch(setup):
    gen = torch.Generator().manual_seed(0)
    return next(epoch_batches(setup.dataset, setup.dataset.split("train"), 16, generator=gen,
                              variant_probs=[0.25] * 4))


def test_one_space__positives_negatives_centroids_go_through_the_target(setup):
    with torch.no_grad():  # make the target space visibly different from the raw space
        for p in setup.target_space.encoder.parameters():
            p.add_(0.3 * torch.randn_like(p))
    batch = _batch(setup)
    state, positive, negatives = encode_targets(setup, batch, 0, 1)  # one call of the target encoder for all three
    assert torch.allclose(positive, setup.target_space(batch.source), atol=1e-6)
    assert torch.allclose(negatives, setup.target_space(batch.negatives), atol=1e-6)
    assert torch.allclose(state.centroids, setup.target_space(setup.dataset.centroids), atol=1e-6)
    assert not torch.allclose(positive, batch.source)


def test_online_encoder__receives_gradients_and_target_follows(setup):
    online = setup.model.online_encoder
    target_before = copy.deepcopy(setup.target_space.encoder.state_dict())
    batch = _batch(setup)
    for step in range(2):
        train_step(setup, batch, step=step, total_steps=10, aux_active=True)
        grads = [p.grad for p in online.parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(g is not None and g.abs().sum() > 0 for g in (p.grad for p in online.parameters()))
    changed = [not torch.equal(v, target_before[k]) for k, v in setup.target_space.encoder.state_dict().items()]
    assert any(changed)  # the EMA moved toward the trained online encoder


def test_target_space__ema_update_skipped_by_a_device_flag():
    online, target, before = _moved_online()
    target.update(online, 0.9, torch.tensor(False))  # a step skipped on the device: the target stays
    assert all(torch.equal(v, before[k]) for k, v in target.encoder.state_dict().items())


def test_target_space__encode_many_in_one_call_keeps_shapes():
    target = TargetSpace("ema", torch.nn.Linear(4, 4))
    a, b = torch.randn(3, 4), torch.randn(2, 5, 4)
    out_a, out_b = target.encode(a, b)
    assert torch.allclose(out_a, target(a), atol=1e-6) and torch.allclose(out_b, target(b), atol=1e-6)
    assert TargetSpace("identity", None).encode(a, b) == (a, b)


@pytest.mark.slow
@pytest.mark.parametrize("flag", [True, False])
def test_target_space__compiled_ema_update_matches_the_eager_one(flag):
    from torch._dynamo.utils import counters

    online, eager, _ = _moved_online()
    compiled = copy.deepcopy(eager)
    eager.update(online, 0.9, torch.tensor(flag))
    torch._dynamo.reset()
    counters.clear()
    torch.compile(compiled.update, fullgraph=True)(online, torch.tensor(0.9), torch.tensor(flag))
    assert counters["stats"]["unique_graphs"] == 1
    for a, b in zip(eager.encoder.parameters(), compiled.encoder.parameters()):
        assert torch.allclose(a, b, rtol=0, atol=1e-6)
    if not flag:  # a skipped step leaves the target exactly as it was
        assert all(torch.equal(a, b) for a, b in zip(eager.encoder.parameters(), compiled.encoder.parameters()))
