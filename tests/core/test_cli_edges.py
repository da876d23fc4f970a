"""CLI and run-assembly edges: no command, interrupts, missing checkpoints, unavailable devices, validators."""

import pytest
import torch

from jasper_core.cli import train_cmd
from jasper_core.cli.main import main
from jasper_core.errors import RecipeError
from jasper_core.recipe import recipe_from_text
from jasper_core.training.assemble import assemble
from jasper_core.training.run_state import load_trained
from jasper_core.validators import non_empty, open_unit, positive


def test_cli__no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: jasper" in capsys.readouterr().out


def test_cli__interrupt_exits_130_and_says_how_to_resume(monkeypatch, tiny_recipe_file, tmp_path, capsys):
    def interrupted(args, plugins):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cmd, "run", interrupted)
    assert main(["train", str(tiny_recipe_file), "--run-dir", str(tmp_path / "run")]) == 130
    assert "resume with --resume auto" in capsys.readouterr().err


def test_cli__eval_names_a_missing_checkpoint(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nowhere.pt")]) == 1
    assert "nowhere.pt: checkpoint not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["eval", str(tmp_path / "empty")]) == 1
    assert "no checkpoints/best.pt or checkpoints/last.pt in this directory" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_load_trained__device_override_reaches_the_recipe(tiny_run, plugins):
    setup, _, _ = load_trained(tiny_run.path, plugins, device="cpu")
    assert setup.device == torch.device("cpu")
    with pytest.raises(RecipeError, match="'cuda:0' asked for"):  # the run was trained with device = "cpu"
        load_trained(tiny_run.path, plugins, device="cuda:0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_assemble__unavailable_cuda_is_a_recipe_problem(tiny_recipe_text, registries):
    recipe = recipe_from_text(tiny_recipe_text, registries, overrides=["train.device=cuda:0"])
    with pytest.raises(RecipeError, match="'cuda:0' asked for, but CUDA is not available here"):
        assemble(recipe, registries)


def test_assemble__optimiser_types(tiny_recipe_text, registries):
    for name, cls in (("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)):
        recipe = recipe_from_text(tiny_recipe_text, registries, overrides=[f"optim.type={name}", "optim.momentum=0.5"])
        optimizer = assemble(recipe, registries).optimizer
        assert type(optimizer) is cls
        if name == "sgd":
            assert optimizer.param_groups[0]["momentum"] == 0.5


@pytest.mark.parametrize("validator, value, message", [
    (positive, float("inf"), "must be a finite number, got inf"),
    (open_unit, 1.0, "must be strictly between 0 and 1, got 1.0"),
    (open_unit, 0.0, "must be strictly between 0 and 1, got 0.0"),
    (non_empty, (), "must not be empty"),
])
def test_validators__reject_with_the_value(validator, value, message):
    with pytest.raises(ValueError, match=message):
        validator(None, None, value)
    ok = {positive: 1.0, open_unit: 0.5, non_empty: (1,)}[validator]
    validator(None, None, ok)
