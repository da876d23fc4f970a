"""Loggers: CSV history, plots that open as images and hold what they claim, wandb offline."""

import csv
import json

import pytest
from PIL import Image

from jasper_core.recipe import recipe_from_text
from jasper_core.training.run_dir import RunDir
from jasper_core.training.trainer import Trainer

LOGGERS = '\n[[logger]]\ntype = "csv"\n\n[[logger]]\ntype = "plots"\n\n[[logger]]\ntype = "console"\n'


def last(run_dir):
    return RunDir(run_dir).checkpoint("last")


def test_loggers__csv_and_plots(tiny_recipe_text, tmp_path, plugins, capsys):
    recipe = recipe_from_text(tiny_recipe_text + LOGGERS, plugins.registries)
    Trainer(recipe, plugins, run_dir=tmp_path / "run").fit()
    run = tmp_path / "run"
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["0", "1", "2", "3"]
    assert "val/baselines/question_cosine/mrr" in rows[0] and rows[1]["infonce"]
    for name in ("loss_components.png", "steering_mix.png", "retrieval.png"):
        with Image.open(run / "plots" / name) as img:
            img.verify()
            assert img.size[0] > 500 and img.size[1] > 300
    history = json.loads((run / "plots" / "history.json").read_text())
    assert [e["epoch"] for e in history["evals"]] == [0, 1, 2, 3]
    assert {"question_cosine", "cluster_filtered"} == set(history["evals"][-1]["baselines"])
    assert abs(sum(history["epochs"][0][f"steering/{v}"] for v in ("zero", "centroid", "keyword", "residual")) - 1) < 1e-6
    out = capsys.readouterr().out
    assert "R@10" in out and "MRR@10" in out and "question_cosine" in out and "95% CI" in out


@pytest.mark.slow
def test_loggers__wandb_offline_run_id_survives_resume(tiny_recipe_text, tmp_path, plugins, monkeypatch):
    from jasper_core.training.checkpoint import load_checkpoint

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    text = tiny_recipe_text + '\n[[logger]]\ntype = "wandb"\nmode = "offline"\n'
    recipe = recipe_from_text(text, plugins.registries, overrides=["train.epochs=1"])
    Trainer(recipe, plugins, run_dir=tmp_path / "run").fit()
    run_id = load_checkpoint(last(tmp_path / "run"))["logger_state"]["wandb_run_id"]
    offline = list((tmp_path / "run" / "wandb").glob(f"offline-run-*-{run_id}"))
    assert offline and list(offline[0].glob("*.wandb"))
