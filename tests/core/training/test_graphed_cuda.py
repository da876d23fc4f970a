"""train.cuda_graph with real CUDA graphs: the same weights as the eager step, and bit-exact resume.

Skipped without a CUDA device (CI runs on CPUs); run on a GPU machine with
``python -m pytest tests/core/training/test_graphed_cuda.py``.
"""

import json
import logging

import pytest
import torch

from callbacks import StopAfter
from jasper_core.recipe import recipe_from_text
from jasper_core.testing import plugins_with
from jasper_core.training.assemble import assemble
from jasper_core.training.batches import epoch_rows
from jasper_core.training.checkpoint import load_checkpoint
from jasper_core.training.graphed import GraphedStep
from jasper_core.training.step import train_rows
from jasper_core.training.trainer import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

ON_GPU = ['train.device="cuda"', "train.epochs=3"]


def _train(text, plugins, run_dir, *overrides, resume=None):
    recipe = recipe_from_text(text, plugins.registries, overrides=[*ON_GPU, *overrides])
    trainer = Trainer(recipe, plugins, run_dir=run_dir, resume=resume)
    return trainer.fit()


def _weights(run_dir):
    ckpt = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    return {f"{part}.{k}": v for part in ("model", "target") for k, v in ckpt[part].items()}


def _epochs(run_dir):
    rows = [json.loads(x) for x in (run_dir / "history.jsonl").read_text().splitlines()]
    return [e["loss"] for e in rows if e["event"] == "epoch"]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_graph__trains_the_same_weights_as_the_eager_step(tiny_recipe_text, plugins, tmp_path, precision):
    _train(tiny_recipe_text, plugins, tmp_path / "eager", f'train.precision="{precision}"')
    _train(tiny_recipe_text, plugins, tmp_path / "graph", f'train.precision="{precision}"', "train.cuda_graph=true")
    eager, graph = _weights(tmp_path / "eager"), _weights(tmp_path / "graph")
    assert _epochs(tmp_path / "graph") == _epochs(tmp_path / "eager")
    assert all(torch.equal(eager[k], graph[k]) for k in eager), [k for k in eager if not torch.equal(eager[k], graph[k])]


def test_cuda_graph__resume_is_bit_exact(tiny_recipe_text, plugins, tmp_path):
    _train(tiny_recipe_text, plugins, tmp_path / "straight", "train.cuda_graph=true")
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_recipe_text, plugins_with(StopAfter(2)), tmp_path / "resumed", "train.cuda_graph=true")
    _train(tiny_recipe_text, plugins, tmp_path / "resumed", "train.cuda_graph=true", resume="auto")
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_assemble__compiles_the_steps_tail_on_a_gpu(tiny_recipe_text, registries):
    recipe = recipe_from_text(tiny_recipe_text, registries, overrides=['train.device="cuda"', 'train.compile="default"'])
    setup = assemble(recipe, registries)
    assert setup.compiled_check is not None and setup.compiled_ema is not None


def test_cuda_graph__compiled_step_with_the_gather_inside_trains_like_the_eager_step(tiny_recipe_text, plugins, tmp_path):
    """train.compile = "default" gathers the batch inside the compiled graph; captured, it trains as the eager step
    does (inductor's kernels round differently, and dropout is off: inductor draws its own masks)."""
    no_dropout = "model.dropout=0"
    _train(tiny_recipe_text, plugins, tmp_path / "eager", no_dropout)
    _train(tiny_recipe_text, plugins, tmp_path / "compiled", no_dropout, 'train.compile="default"', "train.cuda_graph=true")
    assert _epochs(tmp_path / "compiled") == pytest.approx(_epochs(tmp_path / "eager"), rel=1e-3)


class FailsInCapture(torch.nn.Module):
    """A loss that cannot be captured: it waits for the device while a capture is under way."""

    def forward(self, inputs):
        if torch.cuda.is_current_stream_capturing():
            torch.cuda.synchronize()  # not permitted during a capture: the capture fails
        return {"loss": inputs.prediction.pow(2).mean()}


def test_cuda_graph__a_failed_capture_trains_on_eagerly_with_dropout_and_the_same_weights(
        tiny_recipe_text, registries, caplog):
    """The run goes on without the graph after a failed capture, and its dropout draws from the generator
    as the eager run does (a failed capture left the generator in capture mode: the next dropout raised)."""
    def run(stepper):
        setup = assemble(recipe_from_text(tiny_recipe_text, registries, overrides=['train.device="cuda"',
                                                                                 "model.dropout=0.3"]), registries)
        setup.composer.losses["jepa"] = FailsInCapture()
        gen = torch.Generator().manual_seed(0)
        for step, (rows, codes) in enumerate(epoch_rows(setup.dataset.split("train"), 16, generator=gen,
                                                        variant_probs=[0.25] * 4)):
            stepper(setup, rows.cuda(), codes.cuda(), step=step, total_steps=40, aux_active=True)
        return [p.detach().clone() for p in (*setup.model.parameters(), *setup.target_space.parameters())]

    expected = run(train_rows)
    graphed = GraphedStep()
    with caplog.at_level(logging.WARNING, logger="jasper.train"):
        got = run(graphed)
    assert "capturing the step failed" in graphed.disabled and graphed.captures == 0
    assert all(torch.equal(a, b) for a, b in zip(expected, got))
