"""train.compile: the compiled step computes what the eager step computes (slow: compiles with inductor)."""

import attrs
import pytest
import torch

from jasper_core.recipe import recipe_from_text
from jasper_core.training.assemble import assemble
from jasper_core.training.batches import epoch_batches, epoch_rows
from jasper_core.training.step import train_rows


def compile_tail(setup):
    """Compile the step's tail as assemble does on a GPU (on the CPU it stays eager)."""
    from jasper_core.training.compiled import compile_step
    from jasper_core.training.step import decide_update, ema_update

    setup.compiled_check, setup.compiled_ema = compile_step(decide_update, "default"), compile_step(ema_update, "default")
    return setup


def _losses(text, registries, *overrides, tail=False):
    """Four training steps' losses, through the trainer's path (train_rows); ``tail``: the step's tail compiled."""
    setup = assemble(recipe_from_text(text, registries, overrides=list(overrides)), registries)
    if tail:
        compile_tail(setup)
    gen = torch.Generator().manual_seed(0)
    batches = epoch_rows(setup.dataset.split("train"), 16, generator=gen, variant_probs=[0.25] * 4)
    out = [float(train_rows(setup, rows, codes, step=i, total_steps=10, aux_active=True).metrics["loss"])
           for i, (rows, codes) in zip(range(4), batches)]
    return out, setup


def _weights(setup):
    return [p.detach() for p in (*setup.model.parameters(), *setup.target_space.parameters())]


@pytest.mark.slow
def test_train_step__compiled_matches_eager(tiny_recipe_text, registries):
    """The forward and losses, the clipping and non-finite check, and the EMA step, each compiled without a
    graph break, train what the eager step trains."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    no_dropout = "model.dropout=0"  # inductor draws dropout masks from its own generator
    eager, eager_setup = _losses(tiny_recipe_text, registries, no_dropout)
    compiled, setup = _losses(tiny_recipe_text, registries, no_dropout, 'train.compile="default"', tail=True)
    assert setup.compiled is not None and setup.compiled_check is not None and setup.compiled_ema is not None  # none fell back
    assert not torch._dynamo.utils.counters["graph_break"]
    assert compiled == pytest.approx(eager, rel=1e-4, abs=1e-5)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(_weights(eager_setup), _weights(setup)))
    assert eager[0] != eager[-1]  # the steps did train


def test_check_update__a_failing_compiled_check_runs_eagerly_with_one_warning(tiny_recipe_text, registries, caplog):
    """The compiled clipping / non-finite check failing (a compiler fault) is replaced by the eager one for the
    rest of the run; the step's result is the eager step's."""
    eager, eager_setup = _losses(tiny_recipe_text, registries)

    def broken(*args):
        raise AssertionError("Guard failed on the same frame it was created")

    setup = assemble(recipe_from_text(tiny_recipe_text, registries), registries)
    setup.compiled_check = setup.compiled_ema = broken
    gen = torch.Generator().manual_seed(0)
    batches = epoch_rows(setup.dataset.split("train"), 16, generator=gen, variant_probs=[0.25] * 4)
    with caplog.at_level("WARNING", logger="jasper.train"):
        losses = [float(train_rows(setup, rows, codes, step=i, total_steps=10, aux_active=True).metrics["loss"])
                  for i, (rows, codes) in zip(range(4), batches)]
    assert losses == eager
    assert all(torch.equal(a, b) for a, b in zip(_weights(eager_setup), _weights(setup)))
    assert setup.compiled_check is None and setup.compiled_ema is None
    assert [r.getMessage() for r in caplog.records] == [
        "train.compile failed on the gradient clipping and non-finite check (AssertionError: Guard failed on the same "
        "frame it was created); it runs eagerly from now on (same results, slower)",
        "train.compile failed on the EMA update (AssertionError: Guard failed on the same frame it was created); "
        "it runs eagerly from now on (same results, slower)"]


@pytest.mark.slow
@pytest.mark.parametrize("recipe_name", ["quickstart", "jepa_base", "subspace"])
def test_forward_losses__every_builtin_recipe_traces_as_one_graph(recipe_name, synthetic_dir, registries):
    """No graph break in the compiled part of the step, the batch gather included (a break splits the
    CUDA graphs of reduce-overhead)."""
    from jasper_core.recipe import load_recipe
    from jasper_core.recipe.overrides import set_override
    from jasper_core.training.batches import epoch_rows
    from jasper_core.training.step import Rows, forward_losses

    torch._dynamo.reset()
    recipe = load_recipe(recipe_name, registries, [set_override("data.path", str(synthetic_dir)), "train.batch_size=8",
                                                   'train.device="cpu"', "logger=[]"])
    setup = assemble(recipe, registries)
    gen = torch.Generator().manual_seed(0)
    rows, codes = next(epoch_rows(setup.dataset.split("train"), 8, generator=gen, variant_probs=[0.25] * 4))
    setup.model.eval()  # no dropout or Gumbel noise: both calls compute the same figure
    traced = torch.compile(forward_losses, fullgraph=True, backend="eager")  # raises at the first graph break
    total, parts, _ = traced(setup, Rows(rows, codes), 0, 10, True)
    expected, _, _ = forward_losses(setup, setup.dataset.gather(rows, codes), 0, 10, True)
    assert set(parts) >= {"jepa", "infonce"}
    assert float(total.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)


def test_check_compile_mode__cuda_graph_modes_are_refused_in_a_multi_process_job():
    from jasper_core.distributed.world import SOLO, World
    from jasper_core.errors import RecipeError
    from jasper_core.training.compiled import check_compile_mode

    two = World(rank=0, local_rank=0, size=2, joined=True)
    for mode in ("reduce-overhead", "max-autotune"):
        with pytest.raises(RecipeError, match=r"train\.compile.*not supported in a multi-process job"):
            check_compile_mode(mode, two)
        check_compile_mode(mode, SOLO)  # one process: allowed
    check_compile_mode("default", two)
    check_compile_mode("off", two)


def test_compute_losses__a_failing_compiled_step_runs_eagerly_with_one_warning(tiny_recipe_text, registries, caplog):
    from jasper_core.training.step import compute_losses

    setup = assemble(recipe_from_text(tiny_recipe_text, registries, overrides=["model.dropout=0"]), registries)
    setup.model.eval()
    batch = next(epoch_batches(setup.dataset, setup.dataset.split("train"), 8, generator=torch.Generator().manual_seed(0)))
    expected, _, _ = compute_losses(setup, batch, step=0, total_steps=10)

    def broken_compiler(*args):
        raise AssertionError("Guard failed on the same frame it was created")

    setup.compiled = broken_compiler
    with caplog.at_level("WARNING", logger="jasper.train"):
        total, _, _ = compute_losses(setup, batch, step=0, total_steps=10)
    assert float(total.detach()) == pytest.approx(float(expected.detach()))
    assert setup.compiled is None  # the rest of the run is eager
    assert [r.getMessage() for r in caplog.records] == [
        "train.compile failed at step 0 (AssertionError: Guard failed on the same frame it was created); "
        "the run continues eagerly (same results, slower)"]


def test_compute_losses__an_error_of_the_step_itself_is_raised_by_the_eager_step(tiny_recipe_text, registries):
    from jasper_core.training.step import compute_losses

    setup = assemble(recipe_from_text(tiny_recipe_text, registries), registries)
    batch = next(epoch_batches(setup.dataset, setup.dataset.split("train"), 8, generator=torch.Generator().manual_seed(0)))
    setup.compiled = lambda *args: (_ for _ in ()).throw(RuntimeError("compiled"))
    bad = attrs.evolve(batch, question=batch.question[:, :3])  # wrong width: the eager model fails as well
    with pytest.raises(Exception) as info:
        compute_losses(setup, bad, step=0, total_steps=10)
    assert "compiled" not in str(info.value)


@pytest.mark.slow
def test_compute_losses__a_model_raising_inside_the_compiled_step_is_named_by_the_eager_rerun(tiny_recipe_text, registries):
    """Compiled, the model call is not wrapped in the plugin-naming try (a graph break there sent the whole
    frame to eager under DDP); the eager re-run of a failing compiled step names the plugin instead."""
    from jasper_core.errors import PluginOutputError
    from jasper_core.training.compiled import compile_step
    from jasper_core.training.step import compute_losses, forward_losses

    setup = assemble(recipe_from_text(tiny_recipe_text, registries), registries)

    class Raises(torch.nn.Module):
        def forward(self, question, steering, state):
            raise IndexError("index 7 is out of bounds for dimension 0 with size 4")

    setup.model = Raises()
    setup.compiled = compile_step(forward_losses, "default")
    batch = next(epoch_batches(setup.dataset, setup.dataset.split("train"), 8, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(PluginOutputError, match=r'^model "jepa" .*raised IndexError in a training step: index 7'):
        compute_losses(setup, batch, step=0, total_steps=10)


def test_check_update__an_error_while_the_compiled_check_runs_is_raised_not_run_again(tiny_recipe_text, registries):
    """A compiled check that fails after compiling may have clipped the gradients and recorded the step already:
    running it again eagerly would do both twice, so its error is the step's."""
    def fails_at_run_time(*args):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    setup = assemble(recipe_from_text(tiny_recipe_text, registries), registries)
    setup.compiled_check = fails_at_run_time
    rows, codes = next(epoch_rows(setup.dataset.split("train"), 16, generator=torch.Generator().manual_seed(0),
                                  variant_probs=[0.25] * 4))
    with pytest.raises(RuntimeError, match="illegal memory access"):
        train_rows(setup, rows, codes, step=0, total_steps=10, aux_active=True)
    assert setup.compiled_check is fails_at_run_time and setup.guard.read().skipped == 0


class Poisoned(torch.nn.Module):
    """A loss term whose value is multiplied by ``scale`` (set to NaN for the steps that should fail)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.register_buffer("scale", torch.ones(()))

    def forward(self, inputs):
        out = dict(self.inner(inputs))
        return {**out, "loss": out["loss"] * self.scale}


def _with_nan_steps(text, registries, bad_steps, *overrides):
    """Six steps with the infonce term NaN at ``bad_steps``: the guard's report, each step's ``taken`` and the weights."""
    setup = assemble(recipe_from_text(text, registries, overrides=["model.dropout=0", *overrides]), registries)
    if setup.compiled is not None:
        compile_tail(setup)
    poisoned = Poisoned(setup.composer.losses["infonce"])
    setup.composer.losses["infonce"] = poisoned
    batches = epoch_rows(setup.dataset.split("train"), 16, generator=torch.Generator().manual_seed(0),
                         variant_probs=[0.25] * 4)
    taken = []
    for i, (rows, codes) in zip(range(6), batches):
        poisoned.scale.fill_(float("nan") if i in bad_steps else 1.0)
        taken.append(float(train_rows(setup, rows, codes, step=i, total_steps=10, aux_active=True).taken))
    return setup.guard.read(), taken, _weights(setup), setup


@pytest.mark.slow
@pytest.mark.parametrize("policy, taken", [("skip", [1, 1, 0, 1, 0, 1]), ("stop", [1, 1, 0, 0, 0, 0])])
def test_train_step__the_compiled_non_finite_check_decides_as_the_eager_one(tiny_recipe_text, registries, policy, taken):
    torch._dynamo.reset()
    nonfinite = f'train.nonfinite="{policy}"'
    eager = _with_nan_steps(tiny_recipe_text, registries, (2, 4), nonfinite)
    compiled = _with_nan_steps(tiny_recipe_text, registries, (2, 4), nonfinite, 'train.compile="default"')
    assert compiled[3].compiled_check is not None  # it ran compiled
    assert eager[0] == compiled[0] and eager[0].message == "loss term 'infonce' is nan at step 3"
    assert eager[1] == compiled[1] == taken
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(eager[2], compiled[2]))


def test_assemble__compiles_the_tail_on_a_gpu_only(tiny_recipe_text, registries):
    setup = assemble(recipe_from_text(tiny_recipe_text, registries, overrides=['train.compile="default"']), registries)
    assert setup.compiled is not None and setup.compiled_check is None and setup.compiled_ema is None


@pytest.mark.parametrize("mode, options", [("default", {}), ("reduce-overhead", {"triton.cudagraphs": True})])
def test_compile_step__tuning_adds_coordinate_descent_to_the_modes_options(monkeypatch, mode, options):
    from jasper_core.training import compiled

    calls = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: calls.append(kwargs) or fn)
    compiled.compile_step(len, mode)
    compiled.compile_step(len, mode, tuning=True)
    assert calls == [{"mode": mode}, {"options": {**options, "coordinate_descent_tuning": True}}]


def test_compile_step__split_means_compiles_inside_the_batch_mean_choices(monkeypatch):
    from torch._inductor.virtualized import V

    from jasper_core.training import compiled
    from jasper_core.training.reductions import BatchMeanChoices

    seen = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: lambda *a, **k: seen.append(type(V.choices)) or fn(*a, **k))
    def add(x, *, y):
        return x + y

    split = compiled.compile_step(add, "default", split_means=True)
    plain = compiled.compile_step(add, "default")
    tuned = compiled.compile_step(add, "default", tuning=True, split_means=True)
    assert split(1, y=2) == 3 and plain(1, y=2) == 3 and tuned(1, y=2) == 3
    assert seen == [BatchMeanChoices, type(V.choices), BatchMeanChoices]
    assert not isinstance(V.choices, BatchMeanChoices)  # restored after each call
    assert split.__name__ == tuned.__name__ == "add"  # the name dynamo's logs and the tests report


@pytest.mark.parametrize("device, parts", [("cpu", [("forward_losses", False)]),
                                           ("cuda", [("forward_losses", True), ("decide_update", False),
                                                     ("ema_update", False)])])
def test_compiled_parts__every_compiled_part_gets_the_recipes_tuning(tiny_recipe_text, registries, monkeypatch, device, parts):
    from jasper_core.training import compiled
    from jasper_core.training.assemble import compiled_parts

    seen = []
    monkeypatch.setattr(compiled, "compile_step", lambda fn, mode, tuning=False, split_means=False:
                        seen.append((fn.__name__, mode, tuning, split_means)) or fn)
    for tuning in (False, True):
        recipe = recipe_from_text(tiny_recipe_text, registries,
                                  overrides=['train.compile="default"', f"train.compile_tuning={str(tuning).lower()}"])
        got = compiled_parts(recipe, torch.device(device))  # building nothing: a GPU is not needed
        assert [f is not None for f in got] == [True, device == "cuda", device == "cuda"]
        assert seen == [(name, "default", tuning, split) for name, split in parts]  # the forward's means split on a GPU
        seen.clear()


@pytest.mark.parametrize("mode", ["reduce-overhead", "max-autotune"])
def test_compiled_parts__the_means_split_on_a_gpu_in_every_mode(tiny_recipe_text, registries, monkeypatch, mode):
    from jasper_core.training import compiled
    from jasper_core.training.assemble import compiled_parts

    seen = []
    monkeypatch.setattr(compiled, "compile_step", lambda fn, mode, tuning=False, split_means=False:
                        seen.append((mode, split_means)) or fn)
    compiled_parts(recipe_from_text(tiny_recipe_text, registries, overrides=[f'train.compile="{mode}"']), torch.device("cuda"))
    compiled_parts(recipe_from_text(tiny_recipe_text, registries, overrides=[f'train.compile="{mode}"']), torch.device("cpu"))
    assert seen == [(mode, True), (mode, False)]
