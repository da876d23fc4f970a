"""Hostile inputs around the run directory: each gives one clear line and changes nothing it should not."""

import hashlib

import pytest

from conftest import copy_run, write_synthetic
from jasper_core import hookimpl
from jasper_core.cli.main import main
from jasper_core.testing import plugins_with
from jasper_core.errors import CheckpointError, JasperError, RecipeError
from jasper_core.recipe import recipe_from_text
from jasper_core.training.run_dir import RunDir
from jasper_core.training.run_state import load_trained
from jasper_core.training.trainer import Trainer


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("target", ["checkpoints/best.pt", "checkpoints/x.json", "recipe.toml", "other.pt", "."])
def test_eval_out__refuses_checkpoints_recipe_and_directories_before_evaluating(tiny_run, tmp_path, capsys, target):
    run = copy_run(tiny_run.path, tmp_path / "run")
    before = {p: digest(p) for p in run.rglob("*") if p.is_file()}
    assert main(["eval", str(run), "--out", str(run / target)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and ("refusing" in err[0] or "directory" in err[0])
    assert {p: digest(p) for p in run.rglob("*") if p.is_file()} == before


def test_eval_out__an_unwritable_place_is_one_line(tiny_run, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["eval", str(tiny_run.path), "--out", str(blocker / "o.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write" in err[0]


def test_resume__a_run_directory_resolves_to_its_last_checkpoint(tiny_run, tiny_recipe_text, tmp_path, plugins):
    recipe = recipe_from_text(tiny_recipe_text, plugins.registries)
    trainer = Trainer(recipe, plugins, run_dir=tmp_path / "new", resume=str(tiny_run.path))
    assert trainer.resume_from == RunDir(tiny_run.path).checkpoint("last")


def test_resume_auto__refuses_a_directory_with_files_but_no_checkpoint(tiny_recipe_text, tmp_path, plugins):
    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.toml").write_text("something else")
    recipe = recipe_from_text(tiny_recipe_text, plugins.registries)
    with pytest.raises(JasperError, match="no checkpoints/last.pt"):
        Trainer(recipe, plugins, run_dir=run, resume="auto")
    assert (run / "recipe.toml").read_text() == "something else"


def test_resume__without_best_pt_the_best_record_is_not_trusted(tiny_run, tiny_recipe_text, tmp_path, plugins):
    run = copy_run(tiny_run.path, tmp_path / "run")
    RunDir(run).checkpoint("best").unlink()  # a kill between the two writes, or another run's last.pt
    recipe = recipe_from_text(tiny_recipe_text, plugins.registries)
    results = Trainer(recipe, plugins, run_dir=run, resume="auto").fit()  # finished: evaluates only
    assert results.checkpoint == "last" and results.best == {}  # no claim about weights that are not there


def test_load_trained__refuses_data_of_another_shape(tiny_run, tmp_path, plugins):
    other = write_synthetic(tmp_path / "other", dim=24)
    with pytest.raises(CheckpointError, match="dim = 16"):
        load_trained(tiny_run.path, plugins, data=str(other))


@pytest.mark.parametrize("override, where", [
    ("target_space.decay.type=steering_curriculum", "target_space.decay"),
    ("train.curriculum.type=cosine", "train.curriculum"),
])
def test_schedule__of_the_wrong_shape_for_its_place_is_a_recipe_error(tiny_recipe_text, plugins, override, where):
    from jasper_core.training.assemble import assemble

    recipe = recipe_from_text(tiny_recipe_text, plugins.registries, overrides=[override, "target_space.decay.start=[1.0, 0, 0, 0]",
                                                                               "target_space.decay.end=[1.0, 0, 0, 0]"]
                              if "decay" in override else [override])
    with pytest.raises(RecipeError, match=where):
        assemble(recipe, plugins.registries)


def test_old_routing_section__names_the_new_places(tiny_recipe_text, plugins):
    with pytest.raises(RecipeError) as err:
        recipe_from_text(tiny_recipe_text + "\n[routing.entropy]\ntype = \"cosine\"\n", plugins.registries)
    assert "[loss.entropy_target]" in str(err.value) and "model.router" in str(err.value)


def test_check__a_loss_that_refuses_the_model_is_one_line_naming_it(tiny_recipe_file, capsys):
    assert main(["check", str(tiny_recipe_file), "--set", 'loss=[{type="routing_entropy"}]']) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: loss "routing_entropy"') and "decomposed" in err[0]


def test_lock__a_second_writer_is_refused_and_a_stale_lock_taken_over(tmp_path):
    import json
    import os
    import socket

    run = RunDir(tmp_path / "run")
    with run.lock():
        held = json.loads(run.lock_file.read_text())
        assert held["pid"] == os.getpid()
        with pytest.raises(JasperError, match=f"in use by pid {os.getpid()}"):
            with run.lock():
                pass
    assert not run.lock_file.exists()
    run.lock_file.write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname(), "since": "yesterday"}))
    with run.lock():  # its process is gone
        assert json.loads(run.lock_file.read_text())["pid"] == os.getpid()


def test_lock__a_writer_killed_while_writing_its_lock_leaves_nothing_that_blocks(tmp_path):
    """The lock is linked from a filled temporary file, so a writer killed while writing it leaves no
    empty .lock (which read as a live holder for a minute); the next holder removes its temporary file."""
    import json
    import os
    import subprocess
    import sys

    run = RunDir(tmp_path / "run")
    killed_while_writing = (
        "import os, signal, sys\n"
        "from jasper_core.training.run_dir import RunDir\n"
        "class Killed:\n"
        "    def __init__(self, *args, **kwargs): pass\n"
        "    def __enter__(self): return self\n"
        "    def __exit__(self, *exc): return False\n"
        "    def write(self, text): os.kill(os.getpid(), signal.SIGKILL)\n"
        "os.fdopen = Killed\n"
        "with RunDir(sys.argv[1]).lock(): pass\n")
    proc = subprocess.run([sys.executable, "-c", killed_while_writing, str(run.path)], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    with run.lock():
        assert json.loads(run.lock_file.read_text())["pid"] == os.getpid()
        assert sorted(p.name for p in run.path.iterdir()) == [".lock"]


def test_lock__on_a_file_system_without_hard_links_it_is_still_exclusive_and_filled(tmp_path, monkeypatch):
    import errno
    import json
    import os

    def no_links(src, dst, *args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    run = RunDir(tmp_path / "run")
    with run.lock():
        assert json.loads(run.lock_file.read_text())["pid"] == os.getpid()
        with pytest.raises(JasperError, match=f"in use by pid {os.getpid()}"):
            with run.lock():
                pass
        assert sorted(p.name for p in run.path.iterdir()) == [".lock"]
    assert not run.lock_file.exists()


def test_train__two_jobs_in_one_run_directory(tiny_recipe_text, tmp_path, plugins):
    run = RunDir(tmp_path / "run")
    recipe = recipe_from_text(tiny_recipe_text, plugins.registries)
    with run.lock():  # another process is training there
        with pytest.raises(JasperError, match="in use by pid"):
            Trainer(recipe, plugins, run_dir=run.path, resume="auto").fit()
    assert sorted(p.name for p in run.path.iterdir()) == []


class RaisingLogger:
    def __init__(self, config=None, *, run_dir=None):
        self.calls = 0

    @hookimpl
    def jasper_epoch_end(self, run, epoch, metrics):
        self.calls += 1
        raise RuntimeError("disk quota of the dashboard exceeded")


class RegistersRaisingLogger:
    @hookimpl
    def jasper_register_loggers(self, registry):
        registry.add("raising", RaisingLogger)


def test_logger__that_raises_is_switched_off_and_training_goes_on(tiny_recipe_text, tmp_path, caplog):
    plugins = plugins_with(RegistersRaisingLogger())
    text = tiny_recipe_text + '\n[[logger]]\ntype = "raising"\n'
    recipe = recipe_from_text(text, plugins.registries)
    with caplog.at_level("WARNING", logger="jasper.loggers"):
        results = Trainer(recipe, plugins, run_dir=tmp_path / "run").fit()
    assert results.score("mrr", "zero") > 0
    warnings = [r.getMessage() for r in caplog.records if "switched off" in r.getMessage()]
    assert len(warnings) == 1 and 'logger "raising"' in warnings[0] and "dashboard" in warnings[0]
    epochs = [line for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines() if '"epoch"' in line]
    assert len(epochs) >= 3  # the other logger kept writing every epoch


@pytest.mark.parametrize("overrides, message", [
    (["loss=[]"], "nothing to train"),
    (["loss[0].weight=0", "loss[1].weight=0", "loss[2].weight=0", "loss[3].weight=0"], "nothing to train"),
    (["optim.betas=[0.9, 1.5]"], "optim.betas"),
])
def test_recipe__untrainable_settings_are_recipe_errors(tiny_recipe_text, plugins, overrides, message):
    with pytest.raises(RecipeError, match=message):
        recipe_from_text(tiny_recipe_text, plugins.registries, overrides=overrides)


def test_assemble__an_empty_evaluation_split_is_a_recipe_error(tmp_path, tiny_recipe_text, plugins):
    import torch

    from jasper_core.testing import synthetic_tensors
    from jasper_core.training.assemble import assemble
    from jasper_plugins.data.writer import write_dataset

    tensors, meta = synthetic_tensors()
    tensors["train_idx"] = torch.cat([tensors["train_idx"], tensors["val_idx"]]).sort().values
    tensors["val_idx"] = torch.zeros(0, dtype=torch.long)
    data = write_dataset(tmp_path / "data", tensors, meta, fmt="legacy")
    recipe = recipe_from_text(tiny_recipe_text, plugins.registries, overrides=[f'data.path="{data}"'])
    with pytest.raises(RecipeError, match="eval.split: the dataset's 'val' split has no pairs"):
        assemble(recipe, plugins.registries)


def test_health__a_diverged_model_is_flagged_not_a_linear_algebra_error():
    import torch

    from jasper_core.training.health import prediction_health

    assert prediction_health(torch.full((4, 8), float("nan"))) == {"nonfinite": 1.0, "collapse": 1.0}


@pytest.mark.slow
def test_paths__with_rich_markup_characters_are_printed_as_they_are(tmp_path, tiny_recipe_text, capsys):
    odd = tmp_path / "x[/]y" / "r[bold].toml"
    odd.parent.mkdir(parents=True)
    odd.write_text(tiny_recipe_text)
    assert main(["check", str(odd)]) == 0
    assert f"recipe {odd}: valid" in capsys.readouterr().out
