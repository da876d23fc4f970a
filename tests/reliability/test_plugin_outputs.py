"""Class 4 of the review: a model, loss or schedule plugin that breaks its contract is named in one
line, before training (``jasper check`` and ``jasper train`` alike), never a traceback in the core."""

from types import SimpleNamespace

import attrs
import pytest
import torch
from torch import nn

from hostile import one_line
from jasper_core import Prediction, Predictor, hookimpl
from jasper_core.cli.main import main
from jasper_core.errors import PluginOutputError, RecipeError
from jasper_core.testing import plugins_with
from jasper_core.training.output_checks import check_loss_output, check_prediction, check_schedule_range

MODEL = SimpleNamespace(kind="model", type="bent", path="model", plugin="test-plugin-0")
Q = torch.zeros(4, 8)


@pytest.mark.parametrize("out, message", [
    (torch.zeros(4, 8), "returned Tensor; a model must return jasper_core.Prediction"),
    (Prediction(prediction=[[0.0] * 8] * 4), "prediction of type list"),
    (Prediction(prediction=torch.zeros(4, 7)), r"shape \[4, 7\]; expected \[4, 8\]"),
    (Prediction(prediction=torch.zeros(8)), r"shape \[8\]; expected \[4, 8\]"),
    (Prediction(prediction=torch.zeros(4, 8, dtype=torch.long)), "dtype torch.int64; expected a floating dtype"),
    (Prediction(prediction=torch.zeros(4, 8), explanation=[1]), "explanation of type list"),
])
def test_check_prediction__names_the_model_and_what_it_returned(out, message):
    with pytest.raises(PluginOutputError, match=message) as err:
        check_prediction(out, Q, MODEL)
    assert str(err.value).startswith('model "bent" (model, from test-plugin-0) returned') and "\n" not in str(err.value)


@pytest.mark.parametrize("out, message", [
    (torch.tensor(1.0), "returned Tensor; a loss must return a dict"),
    ({"value": torch.tensor(1.0)}, "returned dict; a loss must return a dict"),
    ({"loss": 1.0}, '"loss" of type float'),
    ({"loss": torch.ones(3)}, r'"loss" of shape \[3\]; expected a scalar'),
    ({"loss": torch.tensor(1)}, '"loss" of dtype torch.int64'),
    ({"loss": torch.tensor(1.0), "acc": "high"}, 'extra figure "acc" of type str'),
])
def test_check_loss_output__names_the_loss(out, message):
    with pytest.raises(PluginOutputError, match=message) as err:
        check_loss_output(out, "mine")
    assert str(err.value).startswith('loss "mine" returned') and "\n" not in str(err.value)


def test_check_loss_output__accepts_numbers_and_one_element_tensors_as_extras():
    value = check_loss_output({"loss": torch.tensor([2.0]), "n": 3, "m": torch.tensor(0.5)}, "ok")
    assert value.shape == () and float(value) == 2.0


@pytest.mark.parametrize("values, bounds, bad", [
    ({0: 0.99, 1: 1.01}, (0.0, 1.0), "gives 1.01 at step 1 of 1"),
    ({0: -0.5}, (0.0, None), "gives -0.5 at step 0 of 1"),
    ({0: float("nan")}, (0.0, None), "gives nan"),
])
def test_check_schedule_range__the_first_value_out_of_range_is_a_recipe_error(values, bounds, bad):
    comp = SimpleNamespace(path="target_space.decay", type="odd", plugin="p")
    with pytest.raises(RecipeError, match=bad):
        check_schedule_range(lambda step, total: values.get(min(step, 1), 0.5), comp, *bounds, "the EMA decay")
    assert check_schedule_range(lambda s, t: 0.5, comp, 0.0, 1.0, "x")(0, 1) == 0.5


def test_probe_model__names_a_model_that_raises_and_leaves_rng_and_mode_alone():
    from jasper_core.training.output_checks import probe_model

    class Raises(nn.Module):
        def forward(self, question, steering, state):
            torch.rand(1)
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied\nmore detail")

    class Wide(Raises):
        def forward(self, question, steering, state):
            torch.rand(1)
            return Prediction(prediction=torch.cat([question, question], dim=1))

    dataset = SimpleNamespace(pair_question=torch.arange(4), split=lambda name: torch.arange(4), questions=torch.randn(4, 8),
                              centroids=torch.randn(2, 8))
    model = Raises().train()
    rng = torch.get_rng_state()
    with pytest.raises(PluginOutputError, match=r'^model "bent" \(model, from test-plugin-0\) failed on two training questions: '
                                                 r"RuntimeError: mat1 and mat2 shapes cannot be multiplied$"):
        probe_model(model, nn.Identity(), dataset, MODEL)
    assert model.training and torch.equal(torch.get_rng_state(), rng)
    with pytest.raises(PluginOutputError, match=r"shape \[2, 16\]; expected \[2, 8\]"):
        probe_model(Wide(), nn.Identity(), dataset, MODEL)


# -- the same through the CLI, with registered plugins -------------------------------------------
@attrs.frozen(kw_only=True)
class BentConfig:
    rows: int = 0
    cols: int = 0


class Bent(Predictor):
    """Returns ``rows`` fewer rows and ``cols`` fewer columns than asked for."""

    def __init__(self, config, *, dim, encoder, **_):
        super().__init__()
        self.online_encoder, self.cut = encoder, (config.rows, config.cols)

    def forward(self, question, steering, state):
        if self.cut == (-1, -1):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
        out = self.online_encoder(question)
        return Prediction(prediction=out[self.cut[0]:, self.cut[1]:])


class IntLoss(nn.Module):
    def __init__(self, config=None):
        super().__init__()

    def forward(self, inputs):
        return {"loss": (inputs.prediction.sum() > 0).long()}


class Registers:
    @hookimpl
    def jasper_register_models(self, registry):
        registry.add("bent", Bent, config=BentConfig)

    @hookimpl
    def jasper_register_losses(self, registry):
        registry.add("int_loss", IntLoss)


@pytest.mark.slow
@pytest.mark.parametrize("sets, message", [
    (['model={type="bent", cols=1}'], r'model "bent" \(model, from test-plugin-0\) returned a prediction of shape \[2, 15\]'),
    (['loss=[{type="int_loss"}]'], r'loss "int_loss" returned "loss" of dtype torch.int64'),
    (['model={type="bent", rows=-1, cols=-1}'], r'model "bent" \(model, from test-plugin-0\) failed on two training questions: '
                                                r"RuntimeError: mat1 and mat2"),
])
def test_check__a_plugin_breaking_its_contract_is_one_line(tiny_recipe_file, monkeypatch, capsys, sets, message):
    import jasper_core.cli.main as cli

    monkeypatch.setattr(cli, "get_plugins", lambda args: plugins_with(Registers()))
    assert main(["check", str(tiny_recipe_file), *[a for s in sets for a in ("--set", s)]]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("error: ")
    import re

    assert re.search(message, line), line


def test_model_losses__a_model_that_raises_mid_training_is_named():
    from jasper_core.contracts import Batch, StepState
    from jasper_core.training.step import ModelBatch, model_losses

    calls = []

    class LaterRaises(nn.Module):  # passes the probe, then breaks on a batch of another size
        def forward(self, question, steering, state):
            calls.append(question.shape[0])
            raise IndexError("index 7 is out of bounds for dimension 0 with size 4\nmore detail")

    b, d = 3, 8
    batch = Batch(question=torch.randn(b, d), steering=torch.zeros(b, d), source=torch.randn(b, d),
                  negatives=torch.randn(b, 2, d), negative_tiers=torch.zeros(b, 2, dtype=torch.long),
                  cluster=torch.zeros(b, dtype=torch.long), steering_variant=torch.zeros(b, dtype=torch.long),
                  relevance=torch.ones(b), source_index=torch.arange(b), pair_index=torch.arange(b))
    state = StepState(step=0, total_steps=1, centroids=torch.randn(2, d))
    with pytest.raises(PluginOutputError, match=r'^model "bent" \(model, from test-plugin-0\) raised IndexError in a '
                                                 r"training step: index 7 is out of bounds for dimension 0 with size 4$") as info:
        model_losses(LaterRaises(), None, ModelBatch.of(batch), state, lambda: (batch.source, batch.negatives), None, True, MODEL)
    assert isinstance(info.value.__cause__, IndexError) and calls == [b]  # the original stays chained for debugging
