"""Loggers: CSV history, plots that open as images and hold what they claim, wandb offline."""

import csv
import json
import sys
import types

import pytest
from PIL import Image

from jasper_core import hookimpl
from jasper_core.recipe import recipe_from_text
from jasper_core.testing import plugins_with
from jasper_core.training.checkpoint import load_checkpoint
from jasper_core.training.run_dir import RunDir
from jasper_core.training.trainer import Trainer

LOGGERS = '\n[[logger]]\ntype = "csv"\n\n[[logger]]\ntype = "plots"\n\n[[logger]]\ntype = "console"\n'


def last(run_dir):
    return RunDir(run_dir).checkpoint("last")


def test_loggers__csv_and_plots(tiny_recipe_text, tmp_path, plugins, capsys):
    recipe = recipe_from_text(tiny_recipe_text + LOGGERS, plugins.registries, overrides=["train.epochs=1"])
    Trainer(recipe, plugins, run_dir=tmp_path / "run").fit()
    run = tmp_path / "run"
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert "val/baselines/question_cosine/mrr" in rows[0] and rows[1]["infonce"]
    for name in ("loss_components.png", "steering_mix.png", "retrieval.png"):
        with Image.open(run / "plots" / name) as img:
            img.verify()
            assert img.size[0] > 500 and img.size[1] > 300
    history = json.loads((run / "plots" / "history.json").read_text())
    assert [e["epoch"] for e in history["evals"]] == [0, 1]
    assert {"question_cosine", "cluster_filtered"} == set(history["evals"][-1]["baselines"])
    assert abs(sum(history["epochs"][0][f"steering/{v}"] for v in ("zero", "centroid", "keyword", "residual")) - 1) < 1e-6
    out = capsys.readouterr().out
    assert "R@10" in out and "MRR@10" in out and "question_cosine" in out and "95% CI" in out


@pytest.mark.slow
def test_loggers__wandb_offline_run_id_survives_resume(tiny_recipe_text, tmp_path, plugins, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    text = tiny_recipe_text + '\n[[logger]]\ntype = "wandb"\nmode = "offline"\n'
    recipe = recipe_from_text(text, plugins.registries, overrides=["train.epochs=1"])
    Trainer(recipe, plugins, run_dir=tmp_path / "run").fit()
    run_id = load_checkpoint(last(tmp_path / "run"))["logger_state"]["wandb_run_id"]
    offline = list((tmp_path / "run" / "wandb").glob(f"offline-run-*-{run_id}"))
    assert offline and list(offline[0].glob("*.wandb"))


class FakeWandb:
    """Stands in for the wandb module: records init arguments, logged rows, summary and finish codes."""

    class Run:
        def __init__(self, **init):
            self.init, self.logged, self.summary, self.exit_code = init, [], {}, None

        def log(self, data, step=None):
            self.logged.append((data, step))

        def finish(self, exit_code=0):
            self.exit_code = exit_code

    def __init__(self):
        self.runs = []

    def init(self, **kwargs):
        self.runs.append(self.Run(**kwargs))
        return self.runs[-1]

    @staticmethod
    def Settings(**kwargs):
        return kwargs


class InterruptAfterEpoch1:
    """Interrupts the run once epoch 1's checkpoint is written."""

    epoch = 0

    @hookimpl
    def jasper_epoch_end(self, run, epoch, metrics):
        self.epoch = epoch

    @hookimpl
    def jasper_checkpoint_saved(self, run, path, tags):
        if self.epoch == 1:
            raise KeyboardInterrupt


def test_loggers__wandb_logs_scalars_and_resumes_with_the_same_run_id(tiny_recipe_text, tmp_path, plugins, monkeypatch):
    """The logger's side of wandb, against a stand-in module (the real offline run: the slow test above)."""
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    text = tiny_recipe_text + '\n[[logger]]\ntype = "wandb"\nproject = "p"\n'  # mode "auto": offline without a key
    recipe = recipe_from_text(text, plugins.registries, overrides=["train.epochs=2"])
    with pytest.raises(KeyboardInterrupt):
        Trainer(recipe, plugins_with(InterruptAfterEpoch1()), run_dir=tmp_path / "run").fit()
    Trainer(recipe, plugins, run_dir=tmp_path / "run", resume="auto").fit()

    first, second = fake.runs
    run_id = load_checkpoint(last(tmp_path / "run"))["logger_state"]["wandb_run_id"]
    assert first.init["id"] == second.init["id"] == run_id and second.init["resume"] == "allow"
    assert first.init["mode"] == "offline" and first.init["project"] == "p" and first.init["config"]["train.epochs"] == 2
    assert (first.exit_code, second.exit_code) == (1, 0)  # interrupted, then completed
    rows = [data for data, _ in first.logged + second.logged]
    assert any("train/loss" in r for r in rows) and any("epoch/infonce" in r for r in rows)
    assert {r["epoch"] for r in rows if "val/model/zero/mrr" in r} == {0, 1, 2}
    assert all(not isinstance(v, bool) for r in rows for v in r.values())
    assert not first.summary and second.summary["final/model/zero/mrr"] == pytest.approx(
        json.loads((tmp_path / "run" / "eval.json").read_text())["model"]["zero"]["mrr"])


def test_loggers__wandb_mode_and_missing_package(tmp_path, monkeypatch):
    from jasper_plugins.loggers.wandb_logger import WandbLogger, WandbLoggerConfig

    logger = WandbLogger(WandbLoggerConfig(), run_dir=tmp_path)
    monkeypatch.setenv("WANDB_API_KEY", "k")
    assert logger._mode() == "online"
    monkeypatch.delenv("WANDB_API_KEY")
    assert logger._mode() == "offline"
    assert WandbLogger(WandbLoggerConfig(mode="disabled"), run_dir=tmp_path)._mode() == "disabled"
    monkeypatch.setitem(sys.modules, "wandb", None)  # not installed
    with pytest.raises(ValueError, match=r"needs the wandb package"):
        logger.jasper_run_start(run=types.SimpleNamespace(logger_state={}))


@pytest.mark.slow
def test_loggers__damaged_side_files_do_not_block_resume(tiny_recipe_text, tmp_path, plugins, caplog):
    recipe = recipe_from_text(tiny_recipe_text + LOGGERS, plugins.registries, overrides=["train.epochs=1"])
    run = tmp_path / "run"
    Trainer(recipe, plugins, run_dir=run).fit()
    (run / "plots" / "history.json").write_text('{"epochs": [{"epo')  # truncated
    with (run / "history.csv").open("a") as fh:
        fh.write("not-a-number,1,2\n")
    with caplog.at_level("WARNING", logger="jasper.loggers"):
        Trainer(recipe, plugins, run_dir=run, resume="auto").fit()  # resumes a finished run: re-evaluates
    assert "history.json is unreadable" in caplog.text and "rows without a readable epoch" in caplog.text
    assert json.loads((run / "plots" / "history.json").read_text()) == {"epochs": [], "evals": []}  # rewritten whole
