"""Classes 2, 3 and 7 of the review: weights that do not fit are one line naming the checkpoint;
resume never crosses runs and never starts over a run that has anything of value."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from conftest import copy_run
from hostile import snapshot
from jasper_core.errors import CheckpointError
from jasper_core.training.run_dir import RunDir
from jasper_core.training.run_state import load_weights, restore_state


def fake_setup():
    model = nn.Linear(4, 3)
    return SimpleNamespace(model=model, target_space=nn.Identity(), composer=nn.Module(),
                           optimizer=torch.optim.SGD(model.parameters(), lr=0.1), scaler=torch.amp.GradScaler("cpu", enabled=False))


@pytest.mark.parametrize("tamper, message", [
    (lambda sd: sd.update(weight=torch.zeros(3)), r"size mismatch for weight"),
    (lambda sd: sd.pop("bias"), r'Missing key\(s\) in state_dict: "bias"'),
    (lambda sd: sd.update(extra=torch.zeros(1)), r'Unexpected key\(s\) in state_dict: "extra"'),
])
def test_load_weights__that_do_not_fit_are_one_line_naming_the_file(tamper, message):
    setup = fake_setup()
    sd = dict(setup.model.state_dict())
    tamper(sd)
    with pytest.raises(CheckpointError, match=rf"^runs/a/best.pt: its model weights do not fit .*{message}") as err:
        load_weights(setup, {"model": sd, "target": {}}, "runs/a/best.pt")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("damage", [
    lambda ck: ck.pop("rng"),
    lambda ck: ck.update(optimizer={"state": {}, "param_groups": []}),
    lambda ck: ck["rng"].update(torch=torch.zeros(3)),
])
def test_restore_state__damaged_bookkeeping_is_one_line(damage):
    setup = fake_setup()
    ck = {"model": setup.model.state_dict(), "target": {}, "optimizer": setup.optimizer.state_dict(), "step": 3, "epoch": 1,
          "rng": {"torch": torch.get_rng_state(), "batches": torch.Generator().get_state()}}
    assert restore_state(setup, dict(ck), torch.Generator(), "last.pt")["step"] == 3
    damage(ck)
    with pytest.raises(CheckpointError, match=r"^last.pt: its optimiser, RNG or bookkeeping state is damaged"):
        restore_state(setup, ck, torch.Generator(), "last.pt")


def test_killed_before_first_checkpoint__a_run_started_by_an_earlier_version_is_started_again(tmp_path, registries):
    """Its recipe.toml lacks a key added since (train.compile_tuning): resolved again with the registries, the
    key compares as its default, so ``--resume auto`` starts the run again instead of refusing the folder."""
    from jasper_core.recipe import load_recipe, recipe_to_toml

    now = recipe_to_toml(load_recipe("quickstart", registries))
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.write_recipe(now.replace("compile_tuning = false\n", ""))
    (run.path / "history.jsonl").write_text('{"event": "run_start"}\n')
    assert not run.killed_before_first_checkpoint(now)
    assert run.killed_before_first_checkpoint(now, registries)
    assert run.resume_source("auto", now, registries) is None


def test_killed_before_first_checkpoint__only_the_same_recipe_with_nothing_of_value(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    assert not run.killed_before_first_checkpoint("[train]\n")  # no recipe.toml: not a run of ours
    run.write_recipe("[train]\n")
    (run.path / "history.jsonl").write_text('{"event": "run_start"}\n')
    assert run.killed_before_first_checkpoint("[train]\n")
    assert not run.killed_before_first_checkpoint("[train]\nepochs = 2\n")  # another recipe
    run.eval_file().write_text("{}")
    assert not run.killed_before_first_checkpoint("[train]\n")  # a finished run's evaluation
    run.eval_file().unlink()
    run.checkpoints.mkdir()
    (run.checkpoints / "epoch-2.pt").write_bytes(b"x")
    assert not run.killed_before_first_checkpoint("[train]\n")  # a checkpoint


def test_resume_auto__restarts_a_run_killed_before_its_first_checkpoint(tiny_recipe_text, tmp_path, plugins):
    from jasper_core.recipe import recipe_from_text, recipe_to_toml
    from jasper_core.training.trainer import Trainer

    recipe = recipe_from_text(tiny_recipe_text, plugins.registries)
    run = RunDir(tmp_path / "run")
    run.write_recipe(recipe_to_toml(recipe))
    assert Trainer(recipe, plugins, run_dir=run.path, resume="auto").resume_from is None  # starts it again
    other = recipe_from_text(tiny_recipe_text, plugins.registries, overrides=["train.epochs=2"])
    with pytest.raises(Exception, match="holds files but no checkpoints/last.pt"):
        Trainer(other, plugins, run_dir=run.path, resume="auto")


def test_resume_path__never_continues_into_another_run(tiny_run, tiny_recipe_text, tmp_path, plugins):
    from jasper_core.errors import JasperError
    from jasper_core.recipe import recipe_from_text, recipe_to_toml

    other = copy_run(tiny_run.path, tmp_path / "other")
    before = snapshot(other)
    text = recipe_to_toml(recipe_from_text(tiny_recipe_text, plugins.registries))
    with pytest.raises(JasperError, match="already holds another run; continuing .* would replace its checkpoints"):
        RunDir(other).resume_source(str(tiny_run.path / "checkpoints" / "last.pt"), text)
    assert snapshot(other) == before
    assert RunDir(tmp_path / "new").resume_source(str(tiny_run.path), text) == tiny_run.path / "checkpoints" / "last.pt"
    assert RunDir(other).resume_source(str(other), text) == other / "checkpoints" / "last.pt"  # its own run


def test_fit__rechecks_the_directory_once_it_holds_the_lock(tiny_run, tiny_recipe_text, tmp_path, plugins):
    from jasper_core.errors import JasperError
    from jasper_core.recipe import recipe_from_text
    from jasper_core.training.trainer import Trainer

    late = Trainer(recipe_from_text(tiny_recipe_text, plugins.registries), plugins, run_dir=tmp_path / "run")
    copy_run(tiny_run.path, tmp_path / "run")  # another job trained there meanwhile, and finished
    before = snapshot(tmp_path / "run")
    with pytest.raises(JasperError, match="already holds a run"):
        late.fit()
    assert snapshot(tmp_path / "run") == before


@pytest.mark.slow
def test_load_trained__refuses_data_with_other_clusters_of_the_same_count(tiny_run, tmp_path, plugins):
    import json

    from conftest import write_synthetic
    from jasper_core.training.run_state import load_trained

    other = write_synthetic(tmp_path / "other")
    meta = json.loads((other / "config.json").read_text())
    meta["cluster_names"] = ["a", "b", "c", "d"]
    (other / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"cluster_names = 'topic-0' at position 0, but .* has 'a'"):
        load_trained(tiny_run.path, plugins, data=str(other))


def test_lock__a_reused_pid_does_not_hold_the_directory(tmp_path):
    import json
    import os
    import socket
    import subprocess
    import time

    from jasper_core.training.run_lock import live_holder

    lock = tmp_path / ".lock"
    here = socket.gethostname()
    lock.write_text(json.dumps({"pid": os.getpid(), "host": here, "since": "before a restart", "time": time.time() - 10**7}))
    assert live_holder(lock) is None  # our own pid, written before this process started: another process had it
    lock.write_text(json.dumps({"pid": os.getpid(), "host": here, "since": "now", "time": time.time()}))
    assert live_holder(lock)["pid"] == os.getpid()  # this process holds it (a second lock in one process is refused)
    with subprocess.Popen(["sleep", "5"]) as other:
        try:
            lock.write_text(json.dumps({"pid": other.pid, "host": here, "since": "long ago", "time": time.time() - 3600}))
            assert live_holder(lock) is None  # that pid started after the lock was written
            lock.write_text(json.dumps({"pid": other.pid, "host": here, "since": "now", "time": time.time() + 60}))
            assert live_holder(lock)["pid"] == other.pid  # started before: it may be the writer
        finally:
            other.kill()


@pytest.mark.slow
def test_load_trained__refuses_data_from_another_embedding_model(tiny_run, tmp_path, plugins):
    import json

    from conftest import write_synthetic
    from jasper_core.training.run_state import load_trained

    other = write_synthetic(tmp_path / "other")  # same dimension and clusters, another embedding model
    meta = json.loads((other / "config.json").read_text())
    meta["model_name"] = "another-model"
    (other / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"embedding_model = synthetic, but .* has another-model"):
        load_trained(tiny_run.path, plugins, data=str(other))


def test_resume__a_best_checkpoint_of_another_run_is_refused(tiny_run, tmp_path, plugins, tiny_recipe_text_session):
    from conftest import copy_run
    from hostile import snapshot
    from jasper_core.recipe import recipe_from_text
    from jasper_core.training.checkpoint import atomic_save, load_checkpoint
    from jasper_core.training.trainer import Trainer

    run = copy_run(tiny_run.path, tmp_path / "run")
    own = load_checkpoint(run / "checkpoints" / "last.pt")["run_id"]
    assert len(own) == 32 and load_checkpoint(run / "checkpoints" / "best.pt")["run_id"] == own
    foreign = load_checkpoint(run / "checkpoints" / "best.pt")
    atomic_save({**foreign, "run_id": "f" * 32}, run / "checkpoints" / "best.pt")  # copied in from another run
    before = snapshot(run)
    recipe = recipe_from_text(tiny_recipe_text_session, plugins.registries)
    with pytest.raises(CheckpointError, match=r"best\.pt: written by another run \(ffffffffffff…, this run is "):
        Trainer(recipe, plugins, run_dir=run, resume="auto").fit()
    assert snapshot(run) == before
