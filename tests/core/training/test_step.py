"""The training step: no host read, a non-finite step skipped on the device, clipping without a read."""

import copy
import types

import pytest
import torch

from jasper_core.recipe import recipe_from_text
from jasper_core.training.assemble import assemble
from jasper_core.training.batches import epoch_batches
from jasper_core.training.step import Rows, clip_to_norm, gradient_norm, step_batch, train_step, trained_params


def _setup(text, registries, *overrides):
    return assemble(recipe_from_text(text, registries, overrides=list(overrides)), registries)


def _batch(setup):
    gen = torch.Generator().manual_seed(0)
    return next(epoch_batches(setup.dataset, setup.dataset.split("train"), 16, generator=gen, variant_probs=[0.25] * 4))


def _state(setup):
    return (copy.deepcopy(setup.model.state_dict()), copy.deepcopy(setup.target_space.state_dict()),
            copy.deepcopy(setup.optimizer.state_dict()["state"]))


def _same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    return torch.equal(a, b) if torch.is_tensor(a) else a == b


@pytest.mark.parametrize("optim", ["adamw", "sgd"])  # fused: skipped on the device; SGD: after one host read
def test_train_step__nonfinite_step_changes_nothing(tiny_recipe_text, registries, optim):
    setup = _setup(tiny_recipe_text, registries, f"optim.type={optim}", "train.nonfinite=skip")
    batch = _batch(setup)
    train_step(setup, batch, step=0, total_steps=10, aux_active=True)  # optimiser state exists
    before = _state(setup)
    batch.question[0, 0] = float("nan")
    result = train_step(setup, batch, step=1, total_steps=10, aux_active=True)
    assert float(result.taken) == 0.0 and float(result.metrics["loss"]) == 0.0
    assert _same(_state(setup), before)
    report = setup.guard.read()
    assert report.skipped == 1 and "is nan at step 2" in report.message
    batch.question[0, 0] = 0.5
    assert float(train_step(setup, batch, step=2, total_steps=10, aux_active=True).taken) == 1.0
    assert not _same(_state(setup)[0], before[0])


def test_build_optimizer__fused_adamw_on_cpu(tiny_recipe_text, registries):
    setup = _setup(tiny_recipe_text, registries)
    assert setup.optimizer.defaults["fused"] and setup.optimizer._step_supports_amp_scaling


def test_gradient_norm_and_clip_to_norm__norm_before_clipping_and_clipped_grads():
    params = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))]
    params[0].grad, params[1].grad = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 4.0])
    trained = trained_params(torch.optim.SGD(params, lr=0.1))
    norm = gradient_norm(trained, torch.device("cpu"))
    clip_to_norm(trained, 1.0, norm)
    assert float(norm) == pytest.approx(5.0)
    assert float(torch.cat([p.grad for p in params]).norm()) == pytest.approx(1.0, rel=1e-5)
    norm = gradient_norm(trained, torch.device("cpu"))
    clip_to_norm(trained, 0.0, norm)  # 0: measure only
    assert float(norm) == pytest.approx(1.0, rel=1e-5)
    assert float(torch.cat([p.grad for p in params]).norm()) == pytest.approx(1.0, rel=1e-5)
    none = trained_params(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))
    clip_to_norm(none, 1.0, gradient_norm(none, torch.device("cpu")))
    assert float(gradient_norm(none, torch.device("cpu"))) == 0.0


@pytest.mark.parametrize("device, mode, gathered_inside", [
    ("cuda", "default", True),
    ("cuda", "reduce-overhead", False),  # its replays would copy every table the gather reads
    ("cuda", "max-autotune", False),
    ("cuda", "off", False),
    ("cpu", "default", False),  # ATen's gather ran faster there
])
def test_step_batch__the_compiled_step_gathers_itself_only_on_a_gpu_under_default(device, mode, gathered_inside):
    dataset = types.SimpleNamespace(gather=lambda rows, codes: ("gathered", rows, codes))
    setup = types.SimpleNamespace(compiled=None if mode == "off" else object(), device=torch.device(device),
                                  recipe=types.SimpleNamespace(train=types.SimpleNamespace(compile=mode)), dataset=dataset)
    rows, codes = torch.arange(4), torch.zeros(4, dtype=torch.long)
    out = step_batch(setup, rows, codes)
    assert isinstance(out, Rows) == gathered_inside
    if not gathered_inside:
        assert out[0] == "gathered"


class _BreaksLikeDDP(torch.nn.Module):
    """The model called through a wrapper whose forward dynamo cannot trace, as DDP's."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, question, steering, state):
        torch._dynamo.graph_break()
        return self.model(question, steering, state)


@pytest.mark.slow  # compiles the step (about 3 s under coverage); no line of its own in the fast suite
def test_forward_losses__under_ddp_only_the_model_inputs_cross_its_graph_break(tiny_recipe_text, registries):
    """Under DDP the compiled step breaks at DDP's forward; every tensor held across the break is an
    output of the graph before it. The source and negatives, raw or encoded, are not: they are gathered
    and encoded after the break."""
    from jasper_core.training.step import forward_losses

    setup = _setup(tiny_recipe_text, registries)
    rows, codes = torch.arange(12), torch.zeros(12, dtype=torch.long)  # B = 12 rows, D = 16: [B, D] is no [B, B]
    b, k, d = setup.dataset.gather(rows, codes).negatives.shape
    assert len({b, k, d}) == 3
    graphs = []

    def keep(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    setup.ddp = _BreaksLikeDDP(setup.model)
    torch._dynamo.reset()
    try:
        torch.compile(forward_losses, backend=keep)(setup, Rows(rows, codes), 0, 1, True)
    finally:
        torch._dynamo.reset()
    outputs = [x for x in graphs[0].graph.find_nodes(op="output")[0].args[0] if isinstance(x, torch.fx.Node)]
    shapes = [tuple(x.meta["example_value"].shape) for x in outputs]
    assert (b, k, d) not in shapes, shapes  # neither the gathered nor the encoded negatives
    assert shapes.count((b, d)) == 2, shapes  # the question and the steering, not the source


@pytest.mark.parametrize("given", ["rows", "batch"])
def test_forward_losses__under_ddp_the_same_losses_as_in_one_process(tiny_recipe_text, registries, given):
    from jasper_core.training.step import forward_losses

    setup = _setup(tiny_recipe_text, registries)
    setup.model.eval()  # no dropout: the two calls draw nothing
    rows, codes = torch.arange(16), torch.ones(16, dtype=torch.long)
    batch = Rows(rows, codes) if given == "rows" else setup.dataset.gather(rows, codes)
    total, parts, prediction = forward_losses(setup, batch, 3, 10, True)
    setup.ddp = _BreaksLikeDDP(setup.model)  # called eagerly: no break, the DDP path's order
    total_ddp, parts_ddp, prediction_ddp = forward_losses(setup, batch, 3, 10, True)
    assert torch.allclose(total, total_ddp, atol=1e-6) and parts.keys() == parts_ddp.keys()
    assert all(torch.allclose(parts[n], parts_ddp[n], atol=1e-6) for n in parts)
    assert torch.equal(prediction.prediction, prediction_ddp.prediction)
