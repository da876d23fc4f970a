"""Class 5 of the review: settings that cannot train are recipe errors before any training, in
``jasper check`` and ``jasper train`` alike (both load the recipe and assemble it)."""

import os

import pytest

from jasper_core.errors import RecipeError
from jasper_core.recipe import load_recipe, recipe_from_text
from jasper_core.training.assemble import assemble


@pytest.mark.parametrize("overrides, message", [
    (["eval.ks=[5, 10]", 'eval.best_metric="recall@1"'], r"best_metric 'recall@1' needs 1 in eval.ks \(now \[5, 10\]\)"),
    (["eval.ks=[1, 10]", 'eval.best_metric="recall@5"'], "needs 5 in eval.ks"),
])
def test_recipe__best_metric_that_is_never_computed(tiny_recipe_text, plugins, overrides, message):
    with pytest.raises(RecipeError, match=message):
        recipe_from_text(tiny_recipe_text, plugins.registries, overrides=overrides)
    ok = recipe_from_text(tiny_recipe_text, plugins.registries, overrides=["eval.ks=[10]", 'eval.best_metric="ndcg@10"'])
    assert ok.eval.best_metric == "ndcg@10"


def test_recipe__a_path_that_is_not_utf8_is_a_recipe_error(tiny_recipe_text, plugins, tmp_path):
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/data-\xff")
    with pytest.raises(RecipeError) as err:
        recipe_from_text(tiny_recipe_text, plugins.registries, overrides=[f'data.path="{odd}"'])
    assert "data.path: " in str(err.value) and "not valid UTF-8" in str(err.value) and "data-\\udcff" in str(err.value)


def test_recipe__a_directory_is_not_a_recipe(tmp_path, plugins):
    with pytest.raises(RecipeError, match="is a directory"):
        load_recipe(str(tmp_path), plugins.registries)


@pytest.mark.parametrize("overrides, where, message", [
    (["target_space.decay.start=1.5"], "target_space.decay", "the EMA decay must stay between 0.0 and 1.0, but schedule \"cosine\" gives 1.5"),
    pytest.param(['target_space.decay={type="constant", value=-0.1}'], "target_space.decay",
                 "the EMA decay must stay between 0.0 and 1.0, but schedule \"constant\" gives -0.1", marks=pytest.mark.slow),
    pytest.param(['optim.schedule={type="constant", value=-1.0}'], "optim.schedule", "the learning-rate multiplier must stay >= 0.0",
                 marks=pytest.mark.slow),
])
def test_assemble__a_schedule_out_of_its_range_is_refused_before_training(tiny_recipe_text, plugins, overrides, where, message):
    recipe = recipe_from_text(tiny_recipe_text, plugins.registries, overrides=overrides)
    with pytest.raises(RecipeError) as err:
        assemble(recipe, plugins.registries)
    assert f"{where}: {message}" in str(err.value)


def test_assemble__a_batch_larger_than_the_training_split_with_drop_last_is_refused(tiny_recipe_text, plugins):
    recipe = recipe_from_text(tiny_recipe_text, plugins.registries, overrides=["train.batch_size=100000"])
    with pytest.raises(RecipeError, match=r"train.batch_size: 100000 is more than the \d+ training pairs"):
        assemble(recipe, plugins.registries)


@pytest.mark.parametrize("logger, message", [
    ('{type="jsonl", filename="checkpoints/best.pt"}', "is the run's own"),
    ('{type="csv", filename="recipe.toml"}', "is the run's own"),
    ('{type="jsonl", filename="eval-test.json"}', "is the run's own"),
    ('{type="jsonl", filename="../outside.jsonl"}', "must be a relative path inside the run directory"),
    ('{type="csv", filename="/tmp/abs.csv"}', "must be a relative path inside the run directory"),
    ('{type="plots", directory="checkpoints"}', "is the run's own"),
    ('{type="xai_samples", directory=""}', "must be a relative path"),
])
def test_recipe__a_logger_path_outside_its_place_is_a_recipe_error(tiny_recipe_text, plugins, logger, message):
    with pytest.raises(RecipeError, match=r"logger\[0\]\.(filename|directory): .*" + message):
        recipe_from_text(tiny_recipe_text, plugins.registries, overrides=[f"logger=[{logger}]"])
    ok = recipe_from_text(tiny_recipe_text, plugins.registries, overrides=['logger=[{type="jsonl", filename="logs/h.jsonl"}]'])
    assert ok.logger[0].config.filename == "logs/h.jsonl"


def test_run_file__reserves_every_name_the_run_directory_writes(tmp_path):
    from jasper_core.training.run_dir import RunDir
    from jasper_core.validators import run_file

    run = RunDir(tmp_path)
    for path in (run.recipe_file, run.checkpoint("best"), run.lock_file, run.eval_file(), run.eval_file("val")):
        with pytest.raises(ValueError):
            run_file(None, None, str(path.relative_to(tmp_path)))


@pytest.mark.slow
def test_check__a_loss_not_finite_on_the_first_batch_is_one_line_naming_the_term(tiny_recipe_file, capsys):
    from hostile import one_line
    from jasper_core.cli.main import main

    assert main(["check", str(tiny_recipe_file), "--set", "loss[1].temperature=1e-308"]) == 1
    assert one_line(capsys.readouterr().err).startswith("error: loss term 'infonce' is not finite on the first batch")
