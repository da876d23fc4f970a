"""best.pt: the untrained model is a candidate, and a model scoring NaN is never best."""

import json

import pytest
import torch

from jasper_core.recipe import recipe_from_text
from jasper_core.testing import sample_results
from jasper_core.training.checkpoint import load_checkpoint
from jasper_core.training.run_dir import RunDir
from jasper_core.training.trainer import Trainer


def test_trainer__epoch_0_stays_best_when_training_does_not_improve(tiny_recipe_text, tmp_path, plugins):
    recipe = recipe_from_text(tiny_recipe_text, plugins.registries, overrides=["optim.lr=1e-12", "train.epochs=2"])
    Trainer(recipe, plugins, run_dir=tmp_path / "run").fit()
    run = RunDir(tmp_path / "run")
    assert json.loads(run.eval_file().read_text())["best"]["epoch"] == 0
    assert load_checkpoint(run.checkpoint("best"))["epoch"] == 0
    assert load_checkpoint(run.checkpoint("last"))["epoch"] == 2


@pytest.mark.parametrize("score", [float("nan"), float("inf")])
def test_trainer__a_non_finite_score_is_never_best(tiny_recipe_text, tmp_path, plugins, score):
    recipe = recipe_from_text(tiny_recipe_text, plugins.registries)
    trainer = Trainer(recipe, plugins, run_dir=tmp_path / "run")
    good, broken = sample_results(), sample_results()
    broken.model["zero"]["mrr"] = score
    assert trainer._track_best(good, 0)
    assert not trainer._track_best(broken, 1)
    assert trainer.best["epoch"] == 0
    fresh = Trainer(recipe, plugins, run_dir=tmp_path / "other")
    assert not fresh._track_best(broken, 1) and fresh.best == {}


def test_trainer__nan_weights_rank_last_not_first(tiny_recipe_text, tmp_path, plugins):
    from jasper_core.evaluation.evaluate import run_evaluation
    from jasper_core.training.assemble import assemble

    recipe = recipe_from_text(tiny_recipe_text, plugins.registries)
    setup = assemble(recipe, plugins.registries)
    with torch.no_grad():
        for p in setup.model.parameters():
            p.fill_(float("nan"))
    results = run_evaluation(setup.model, setup.target_space, setup.dataset, recipe, plugins.registries, "val")
    assert results.score("mrr", "zero") < results.baseline("question_cosine", "mrr")
    assert results.score("recall@10", "zero") == 0.0
