"""Training runs: outputs, bit-exact resume, non-finite policies, run-directory and checkpoint safety."""

import json
import types

import pytest
import torch

from callbacks import StopAfter
from conftest import copy_run
from jasper_core import hookimpl
from jasper_core.cli.main import main
from jasper_core.errors import CheckpointError, JasperError, NonFiniteLossError
from jasper_core.recipe import recipe_from_text
from jasper_core.testing import plugins_with
from jasper_core.training.checkpoint import load_checkpoint
from jasper_core.training.run_dir import RunDir
from jasper_core.training.trainer import Trainer


def last(run_dir):
    return RunDir(run_dir).checkpoint("last")


def train(text, run_dir, plugins, resume=None, overrides=()):
    recipe = recipe_from_text(text, plugins.registries, overrides=overrides)
    return Trainer(recipe, plugins, run_dir=run_dir, resume=resume).fit()


def test_trainer__writes_eval_checkpoints_history(tiny_run):
    run, results = tiny_run.path, tiny_run.results
    assert {"recipe.toml", "eval.json", "history.jsonl", "checkpoints"} <= {p.name for p in run.iterdir()}
    saved = json.loads((run / "eval.json").read_text())
    assert saved["split"] == "test" and set(saved["model"]) == {"zero", "centroid", "keyword", "residual"}
    assert set(saved["baselines"]) == {"question_cosine", "cluster_filtered"}
    assert set(saved["model"]["zero"]) == {"recall@1", "recall@5", "recall@10", "mrr", "mrr@10", "ndcg@10"}
    assert results.model == saved["model"]
    events = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    evals = [e for e in events if e["event"] == "eval"]
    assert [e["epoch"] for e in evals] == [0, 1, 2, 3]  # before training, then every epoch
    # the untrained model predicts the question: inside the true cluster it ranks as cluster_filtered does
    assert evals[0]["routed/zero/true_cluster/mrr"] == pytest.approx(evals[0]["baselines/cluster_filtered/mrr"])
    assert evals[-1]["routed/zero/true_cluster/mrr"] != pytest.approx(evals[0]["baselines/cluster_filtered/mrr"])
    epoch = next(e for e in events if e["event"] == "epoch")
    for key in ("jepa", "infonce", "centroid", "vicreg", "centroid/accuracy", "lr", "ema_decay", "grad_norm",
                "pairs_per_s", "steering/zero", "health/effective_rank", "health/mean_cosine"):
        assert key in epoch, key
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    assert ckpt["epoch"] == 3 and ckpt["step"] > 0 and "EmaSection" not in ckpt["recipe"]
    assert (run / "checkpoints" / "best.pt").exists()


def test_trainer__resume_is_bit_exact_on_cpu(tiny_run, tiny_recipe_text, tmp_path, plugins):
    straight = tiny_run.path  # the same recipe, trained without interruption
    stopper = plugins_with(StopAfter(2))
    with pytest.raises(KeyboardInterrupt):
        train(tiny_recipe_text, tmp_path / "resumed", stopper)
    at_epoch_2 = load_checkpoint(last(tmp_path / "resumed"))
    assert at_epoch_2["epoch"] == 2
    train(tiny_recipe_text, tmp_path / "resumed", plugins, resume="auto")
    starts = [json.loads(x) for x in (tmp_path / "resumed" / "history.jsonl").read_text().splitlines()]
    assert [(e["resumed"], e["start_epoch"]) for e in starts if e["event"] == "run_start"] == [(False, 1), (True, 3)]
    a = load_checkpoint(straight / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] > at_epoch_2["step"]
    assert any(not torch.equal(at_epoch_2["model"][k], b["model"][k]) for k in b["model"])
    for part in ("model", "target", "composer"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), f"{part}.{key} differs after resume"
    assert json.loads((straight / "eval.json").read_text())["model"] == \
        json.loads((tmp_path / "resumed" / "eval.json").read_text())["model"]


def test_trainer__run_dir_is_never_overwritten(tiny_recipe_text, tmp_path, plugins):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("keep me")
    with pytest.raises(JasperError, match="already holds a run; pass --resume auto"):
        train(tiny_recipe_text, run, plugins)
    assert (run / "notes.txt").read_text() == "keep me"


def test_trainer__resume_with_changed_recipe_is_refused(tiny_run, tiny_recipe_text, tmp_path, plugins):
    copy_run(tiny_run.path, tmp_path / "run")
    with pytest.raises(CheckpointError, match="recipe differs"):
        train(tiny_recipe_text, tmp_path / "run", plugins, resume="auto", overrides=["optim.lr=0.5"])


def nan_loss_plugin(at_step, raise_at=None):
    class NaNAt(torch.nn.Module):
        calls = 0

        def __init__(self, config=None):
            super().__init__()

        def forward(self, inputs):
            type(self).calls += 1
            if type(self).calls == raise_at:
                raise RuntimeError("a plugin failed")
            bad = float("nan") if type(self).calls == at_step else 0.0
            return {"loss": inputs.prediction.sum() * 0 + bad}

    mod = types.ModuleType("nanplugin")

    @hookimpl
    def jasper_register_losses(registry):
        registry.add("nan_at", NaNAt)

    mod.jasper_register_losses = jasper_register_losses
    return plugins_with(mod)


def test_trainer__nonfinite_stop_names_term_and_keeps_last_checkpoint(tiny_recipe_text, tmp_path):
    plugins = nan_loss_plugin(at_step=12)  # epoch 2 (6 steps per epoch)
    text = tiny_recipe_text + '\n[[loss]]\ntype = "nan_at"\n'
    with pytest.raises(NonFiniteLossError, match=r"loss term 'nan_at' is nan at step 12"):
        train(text, tmp_path / "run", plugins)
    ckpt = load_checkpoint(last(tmp_path / "run"))
    assert ckpt["epoch"] == 1  # the last good checkpoint survives
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())


def test_trainer__a_step_that_fails_after_a_logging_point_still_reports_that_points_nonfinite_value(
        tiny_recipe_text, tmp_path):
    """A logging point's record is read once the next step is launched; when that step raises, the record
    is read first, so the non-finite value at the logged step is the error, as it was before that step ran."""
    plugins = nan_loss_plugin(at_step=4, raise_at=5)
    text = tiny_recipe_text + '\n[[loss]]\ntype = "nan_at"\n'
    with pytest.raises(NonFiniteLossError, match=r"loss term 'nan_at' is nan at step 4"):
        train(text, tmp_path / "run", plugins, overrides=["train.log_every=2"])


def test_trainer__nonfinite_skip_counts_and_continues(tiny_recipe_text, tmp_path):
    plugins = nan_loss_plugin(at_step=4)
    text = tiny_recipe_text + '\n[[loss]]\ntype = "nan_at"\n'
    train(text, tmp_path / "run", plugins, overrides=["train.nonfinite=skip"])
    events = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert any(e.get("skipped") == 1.0 for e in events if e["event"] == "step")
    assert load_checkpoint(last(tmp_path / "run"))["skipped_steps"] == 1


def test_trainer__uncertainty_weighting_aux_warmup_and_periodic_checkpoints(tiny_recipe_text, tmp_path, plugins):
    train(tiny_recipe_text, tmp_path / "run", plugins,
          overrides=["train.loss_weighting=uncertainty", "train.aux_warmup_epochs=1", "train.epochs=3",
                     "train.checkpoint_every=1", "train.keep_checkpoints=2"])
    ckpt = load_checkpoint(last(tmp_path / "run"))
    assert "log_vars" in ckpt["composer"] and bool((ckpt["composer"]["log_vars"] != 0).any())
    periodic = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("epoch-*.pt"))
    assert periodic == ["epoch-2.pt", "epoch-3.pt"]  # retention keeps the newest two
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "epoch-2.pt")["epoch"] == 2


def test_checkpoint__truncated_and_malicious_files_are_refused(tiny_run, tmp_path, capsys):
    last = tiny_run.path / "checkpoints" / "last.pt"
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        load_checkpoint(truncated)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "jasper-checkpoint", "payload": Evil()}, evil)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(evil)
    assert main(["eval", str(evil)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused" in err and "pwned" not in err


def test_eval_cli__writes_json_and_prints_table(tiny_run, tmp_path, capsys):
    out = tmp_path / "e.json"
    assert main(["eval", str(tiny_run.path), "--split", "val", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "question_cosine" in printed and "MRR" in printed
    assert json.loads(out.read_text())["split"] == "val"


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_trainer__mixed_precision_trains_on_cpu(tiny_recipe_text, tmp_path, plugins, precision):
    results = train(tiny_recipe_text, tmp_path / "run", plugins, overrides=[f"train.precision={precision}", "train.epochs=2"])
    ckpt = load_checkpoint(last(tmp_path / "run"))
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert results.score("mrr", "zero") > 0
    if precision == "fp16":
        assert ckpt["scaler"]["scale"] > 0  # the gradient scaler's state is checkpointed


def test_eval_cli__default_output_next_to_the_run_or_the_file(tiny_run, tmp_path):
    import shutil

    copy_run(tiny_run.path, tmp_path / "run")
    assert not (tmp_path / "run" / "eval-val.json").exists()
    assert main(["eval", str(tmp_path / "run"), "--split", "val"]) == 0
    assert (tmp_path / "run" / "eval-val.json").exists()
    loose = tmp_path / "elsewhere" / "model.pt"
    loose.parent.mkdir()
    shutil.copy(tmp_path / "run" / "checkpoints" / "last.pt", loose)
    assert main(["eval", str(loose)]) == 0
    assert (loose.parent / "eval-test.json").exists()


def test_health_check__reads_its_rows_without_upcasting_the_whole_question_table(tiny_recipe_text, plugins, tmp_path,
                                                                                 monkeypatch):
    """The epoch's health figures gather their 1,024 questions; ``dataset.questions`` (the whole table
    as float32: gigabytes for a large fp16 dataset) is never built."""
    from jasper_core.training.assemble import assemble

    recipe = recipe_from_text(tiny_recipe_text, plugins.registries)
    trainer = Trainer(recipe, plugins, run_dir=tmp_path / "run")
    setup = assemble(recipe, plugins.registries)
    expected = trainer._health(setup, 0, 10)

    def whole_table(self):
        raise AssertionError("the whole question table was upcast")

    monkeypatch.setattr(type(setup.dataset), "questions", property(whole_table))
    assert trainer._health(setup, 0, 10) == expected
