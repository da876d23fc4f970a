"""train.cuda_graph: the captured step's plumbing, run on the CPU with a backend that replays by re-running.

A real CUDA graph is exercised on a GPU (test_graphed_cuda.py, skipped without one); here ``ReplayByRerun`` stands in for it: the step
runs once at capture and each replay runs it again from the graph's input tensors and copies the
results into the captured outputs — so a value the replay does not take from those inputs (the batch,
the learning rate, the EMA decay, the step) or an output the trainer keeps across replays shows up as
a difference from the eager run.
"""

import logging

import pytest
import torch

from conftest import ReplayByRerun
from jasper_core.recipe import load_recipe, recipe_from_text
from jasper_core.recipe.overrides import set_override
from jasper_core.training.assemble import assemble
from jasper_core.training.batches import epoch_rows
from jasper_core.training.graphed import GraphedStep
from jasper_core.training.step import train_rows


def _setup(text, registries, *overrides):
    return assemble(recipe_from_text(text, registries, overrides=list(overrides)), registries)


def _train(setup, stepper, epochs=2, batch_size=16, drop_last=True):
    """Steps over ``epochs`` passes; returns the per-step metric vectors (read after each step)."""
    gen = torch.Generator().manual_seed(0)
    seen, step = [], 0
    for _ in range(epochs):
        if isinstance(stepper, GraphedStep):
            stepper.epoch_start(setup.dataset)
        for rows, codes in epoch_rows(setup.dataset.split("train"), batch_size, generator=gen,
                                      variant_probs=[0.25] * 4, drop_last=drop_last):
            result = stepper(setup, rows, codes, step=step, total_steps=40, aux_active=True)
            seen.append(result.values.clone())
            step += 1
    return torch.stack(seen)


def _weights(setup):
    return [p.detach().clone() for p in (*setup.model.parameters(), *setup.target_space.parameters())]


def _same_run(text, registries, *overrides, backend=None, **kw):
    eager = _setup(text, registries, *overrides)  # assemble seeds the global generator (dropout): one run after the other
    expected = _train(eager, train_rows, **kw)
    graphed = _setup(text, registries, *overrides)
    step = GraphedStep(backend or ReplayByRerun())
    got = _train(graphed, step, **kw)
    step.train_pairs = int(graphed.dataset.split("train").numel())
    return step, expected, got, _weights(eager), _weights(graphed)


def test_graphed_step__replays_train_like_the_eager_step(tiny_recipe_text, registries):
    step, expected, got, w_eager, w_graphed = _same_run(tiny_recipe_text, registries)
    assert not step.disabled
    assert step.captures == 1  # the second epoch replays the first epoch's capture
    assert torch.equal(got, expected)  # batch, lr schedule, EMA decay and the step all reach the replays
    assert all(torch.equal(a, b) for a, b in zip(w_eager, w_graphed))
    assert expected[0, 0] != expected[-1, 0]


def test_graphed_step__incomplete_last_batch_runs_eagerly(tiny_recipe_text, registries):
    step, expected, got, w_eager, w_graphed = _same_run(tiny_recipe_text, registries, "train.drop_last=false", "train.batch_size=20",
                                                        drop_last=False, batch_size=20)
    assert step.train_pairs % 20  # there is an incomplete batch
    assert not step.disabled and step.captures == 1
    assert torch.equal(got, expected)
    assert all(torch.equal(a, b) for a, b in zip(w_eager, w_graphed))


def test_graphed_step__a_failed_capture_trains_on_eagerly_with_one_warning(tiny_recipe_text, registries, caplog):
    with caplog.at_level(logging.WARNING, logger="jasper.train"):
        step, expected, got, w_eager, w_graphed = _same_run(tiny_recipe_text, registries, backend=ReplayByRerun(fail=True))
    assert step.disabled.startswith("capturing the step failed (RuntimeError: CUDA error: operation not permitted")
    assert "more detail" not in caplog.text
    assert [r.getMessage().startswith("train.cuda_graph: capturing") for r in caplog.records] == [True]
    assert torch.equal(got, expected)
    assert all(torch.equal(a, b) for a, b in zip(w_eager, w_graphed))


def test_graphed_step__sgd_has_no_fused_step_to_capture(tiny_recipe_text, registries):
    step, expected, got, _, _ = _same_run(tiny_recipe_text, registries, "optim.type=sgd", epochs=1)
    assert "has no fused kernel" in step.disabled and step.captures == 0
    assert torch.equal(got, expected)


def test_graphed_step__a_model_that_reads_the_step_is_not_captured(synthetic_dir, registries, caplog):
    """subspace's router turns state.step into a Python temperature: a replay would freeze it."""
    recipe = load_recipe("subspace", registries, [set_override("data.path", str(synthetic_dir)), "train.batch_size=16",
                                                  'train.device="cpu"', "logger=[]"])
    setup = assemble(recipe, registries)
    step = GraphedStep(ReplayByRerun())
    with caplog.at_level(logging.WARNING, logger="jasper.train"):
        _train(setup, step, epochs=1)
    assert "reads state.step" in step.disabled and step.captures == 0
    assert setup.watch is None
    assert sum("train.cuda_graph" in r.getMessage() for r in caplog.records) == 1


class ReadsOnTheHost(torch.nn.Module):
    """A loss that turns a tensor into a Python number: fine eagerly, impossible inside a CUDA graph."""

    def forward(self, inputs):
        scale = float(inputs.prediction.detach().abs().mean())  # the host read
        return {"loss": inputs.prediction.pow(2).mean() / max(scale, 1e-6)}


def _why_not_captured(loss, text, registries, caplog) -> str:
    """Train an epoch with ``loss`` in place of ``jepa``: nothing is captured, one warning; returns the reason."""
    setup = _setup(text, registries)
    setup.composer.losses["jepa"] = loss
    step = GraphedStep(ReplayByRerun(fail=True))  # a capture attempt would say "capturing the step failed"
    with caplog.at_level(logging.WARNING, logger="jasper.train"):
        _train(setup, step, epochs=1)
    assert step.captures == 0
    assert sum("train.cuda_graph" in r.getMessage() for r in caplog.records) == 1
    return step.disabled


def test_graphed_step__a_host_read_in_a_loss_is_named_and_nothing_is_captured(tiny_recipe_text, registries, caplog):
    why = _why_not_captured(ReadsOnTheHost(), tiny_recipe_text, registries, caplog)
    assert why.startswith("the step reads a tensor's value on the host (_local_scalar_dense")
    assert f"{__file__}:" in why  # the line of the plugin that read it


class LogsAPythonNumber(torch.nn.Module):
    """A loss whose logged extra is a Python number: a replay could not update it."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, inputs):
        self.calls += 1
        return {"loss": inputs.prediction.pow(2).mean(), "calls": float(self.calls)}


def test_graphed_step__a_loss_figure_given_as_a_python_number_is_named_and_nothing_is_captured(
        tiny_recipe_text, registries, caplog):
    assert _why_not_captured(LogsAPythonNumber(), tiny_recipe_text, registries, caplog) == (
        "the loss figure 'jepa/calls' is a Python number, which a captured step cannot update (return it as a tensor)")


def test_graphed_step__a_nonfinite_step_is_recorded_with_its_step(tiny_recipe_text, registries):
    """The step number of the non-finite record comes from the graph's step tensor, not the capture's value."""
    setup = _setup(tiny_recipe_text, registries, "train.nonfinite=skip")
    step = GraphedStep(ReplayByRerun())
    gen = torch.Generator().manual_seed(0)
    batches = list(epoch_rows(setup.dataset.split("train"), 16, generator=gen, variant_probs=[0.25] * 4))
    for i, (rows, codes) in enumerate(batches[:3]):
        step(setup, rows, codes, step=i, total_steps=40, aux_active=True)
    assert step.captures == 1
    setup.guard.read()
    with torch.no_grad():
        next(setup.model.parameters()).fill_(float("nan"))  # captured at step 1: a record from the capture's step would say 2
    result = step(setup, *batches[3], step=3, total_steps=40, aux_active=True)
    assert float(result.taken) == 0.0
    report = setup.guard.read()
    assert report.skipped == 1 and report.message.endswith("at step 4")


def test_cuda_graph_on_a_cpu_run_warns_once_and_a_run_resumes_with_it_toggled(tiny_recipe_text, plugins, tmp_path, caplog):
    """cuda_graph changes speed, not results: a run resumes with it switched (a failed capture says to switch it off)."""
    from callbacks import StopAfter
    from jasper_core.testing import plugins_with
    from jasper_core.training.trainer import Trainer

    def train(plugins_, overrides, resume=None):
        recipe = recipe_from_text(tiny_recipe_text, plugins.registries, overrides=overrides)
        return Trainer(recipe, plugins_, run_dir=tmp_path / "run", resume=resume).fit()

    with caplog.at_level(logging.WARNING, logger="jasper.train"), pytest.raises(KeyboardInterrupt):
        train(plugins_with(StopAfter(1)), ["train.cuda_graph=true"])
    assert sum("train.cuda_graph needs a CUDA device" in r.getMessage() for r in caplog.records) == 1
    results = train(plugins, ["train.cuda_graph=false"], resume="auto")
    assert results.checkpoint == "best"
    with pytest.raises(Exception, match="recipe differs"):
        train(plugins, ["train.cuda_graph=false", "optim.lr=0.5"], resume="auto")


@pytest.mark.parametrize("override, words", [('train.precision="fp16"', "fp16"),
                                              ('train.compile="reduce-overhead"', "reduce-overhead")])
def test_cuda_graph_recipe_conflicts_are_refused(tiny_recipe_text, registries, override, words):
    from jasper_core.errors import RecipeError

    with pytest.raises(RecipeError, match=f"train.cuda_graph.*{words}"):
        recipe_from_text(tiny_recipe_text, registries, overrides=["train.cuda_graph=true", override])


def test_trainer_with_a_captured_step_writes_what_the_eager_run_writes(tiny_recipe_text, plugins, tmp_path, monkeypatch):
    """Across epochs (a capture each), evaluations, the step metrics' epoch means and the logged steps' own
    metrics (neither may keep the captured output tensor that every replay rewrites: a logging point's
    metrics are read after the next step is launched)."""
    import json

    import jasper_core.training.trainer as trainer_module
    from jasper_core.training.trainer import Trainer

    def run(name):
        recipe = recipe_from_text(tiny_recipe_text, plugins.registries, overrides=["train.epochs=2", "train.log_every=1"])
        results = Trainer(recipe, plugins, run_dir=tmp_path / name).fit()
        epochs = [json.loads(line) for line in (tmp_path / name / "history.jsonl").read_text().splitlines()]
        drop = ("pairs_per_s", "epoch_seconds", "time")
        events = [{k: v for k, v in e.items() if k not in drop} for e in epochs if e["event"] in ("epoch", "step")]
        assert sum(e["event"] == "step" for e in events) >= 4
        return results.flat(), events

    expected = run("eager")
    steps = []

    def graphed(recipe, device):
        steps.append(GraphedStep(ReplayByRerun()))
        return steps[-1]

    monkeypatch.setattr(trainer_module, "graphed_step", graphed)
    got = run("graphed")
    assert steps[0].captures == 1 and not steps[0].disabled
    assert got == expected


def test_graphed_step__captures_again_when_the_dataset_replaces_a_table(tiny_recipe_text, registries):
    """A captured step reads the tables by address: reloaded hard negatives (a new tensor) need a new capture."""
    setup = _setup(tiny_recipe_text, registries)
    step = GraphedStep(ReplayByRerun())
    _train(setup, step, epochs=1)
    step.epoch_start(setup.dataset)  # nothing moved: the capture stays
    _train(setup, step, epochs=1)
    assert step.captures == 1
    setup.dataset.negatives = setup.dataset.negatives.clone()
    step.epoch_start(setup.dataset)
    _train(setup, step, epochs=1)
    assert step.captures == 2


def test_graphed_step__captures_again_when_a_table_held_in_a_nested_object_moves(tiny_recipe_text, registries):
    """A plugin dataset may keep its tables inside objects of its own; a table moved there needs a new capture too."""
    import types

    setup = _setup(tiny_recipe_text, registries)
    setup.dataset.extra = types.SimpleNamespace(tables={"hard": [torch.zeros(3)]})
    step = GraphedStep(ReplayByRerun())
    _train(setup, step, epochs=1)
    step.epoch_start(setup.dataset)
    assert step.captures == 1 and step._replay is not None
    setup.dataset.extra.tables["hard"][0] = torch.ones(3)  # a new tensor, two containers and an object down
    step.epoch_start(setup.dataset)
    assert step._replay is None  # the next full batch captures again


def test_table_addresses__cycles_are_walked_once_and_too_many_values_mean_capture_every_epoch(monkeypatch):
    from jasper_core.training import graphed

    holder = types_namespace(table=torch.zeros(2))
    holder.me = holder  # a cycle
    assert [path for path, *_ in graphed.table_addresses(holder)] == [("table",)]
    monkeypatch.setattr(graphed, "TABLE_VALUES", 10)
    assert graphed.table_addresses(types_namespace(tables=[torch.zeros(1)] * 50)) is None
    assert graphed.table_addresses(types_namespace(texts=["q"] * 1_000_000)) == ()  # plain data: not read
    assert graphed.table_addresses(object()) is None  # no attributes: capture every epoch


def types_namespace(**kw):
    import types

    return types.SimpleNamespace(**kw)


def test_graphed_step__under_ddp_warms_up_12_steps_and_a_failed_capture_ends_the_job(tiny_recipe_text, registries):
    """A rank going on eagerly while the others replay would hang the job: the failure is the job's."""
    from jasper_core.errors import JasperError
    from jasper_core.training.graphed import WARMUP_DDP, side_stream

    setup = _setup(tiny_recipe_text, registries)
    setup.ddp = setup.model  # stands in for the wrapper: the step only calls it
    step = GraphedStep(ReplayByRerun(fail=True))
    gen = torch.Generator().manual_seed(0)
    rows = [r for _ in range(3) for r in epoch_rows(setup.dataset.split("train"), 16, generator=gen)]
    for i in range(WARMUP_DDP):
        step(setup, *rows[i], step=i, total_steps=40, aux_active=True)
    with pytest.raises(JasperError, match="train.cuda_graph: capturing the step failed .*set train.cuda_graph = false"):
        step(setup, *rows[WARMUP_DDP], step=WARMUP_DDP, total_steps=40, aux_active=True)
    with side_stream(torch.device("cpu")):  # off CUDA: nothing to switch
        pass
