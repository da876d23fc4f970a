"""Damaged files of a real run directory (``make test-all``): side files never block ``--resume auto``
nor change its result; a damaged checkpoint is one line naming it and no file of the run changes."""


import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import copy_run
from hostile import corruption, damage, one_line, snapshot
from jasper_core import hookimpl
from jasper_core.cli.main import main
from jasper_core.recipe import recipe_from_text
from jasper_core.testing import plugins_with
from jasper_core.training.checkpoint import load_checkpoint
from jasper_core.training.trainer import Trainer

pytestmark = pytest.mark.slow
HYP = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SIDE_FILES = ["history.jsonl", "history.csv", "plots/history.json", "recipe.toml"]


class StopAfterEpoch:
    """Raises KeyboardInterrupt (as Ctrl-C would) at the end of epoch 2, once."""

    fired = False

    def __init__(self, config=None, *, run_dir=None):
        pass

    @hookimpl
    def jasper_epoch_end(self, run, epoch, metrics):
        if epoch == 2 and not StopAfterEpoch.fired:
            StopAfterEpoch.fired = True
            raise KeyboardInterrupt


class Registers:
    @hookimpl
    def jasper_register_loggers(self, registry):
        registry.add("stop_after_epoch", StopAfterEpoch)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_recipe_text_session):
    """(plugins, recipe, an uninterrupted run, a run interrupted in epoch 2 with last.pt of epoch 1)."""
    plugins = plugins_with(Registers())
    text = tiny_recipe_text_session + '\n[[logger]]\ntype = "csv"\n\n[[logger]]\ntype = "plots"\n\n[[logger]]\ntype = "stop_after_epoch"\n'
    recipe = recipe_from_text(text, plugins.registries)
    root = tmp_path_factory.mktemp("damaged_runs")
    StopAfterEpoch.fired = True
    Trainer(recipe, plugins, run_dir=root / "straight").fit()
    StopAfterEpoch.fired = False
    with pytest.raises(KeyboardInterrupt):
        Trainer(recipe, plugins, run_dir=root / "stopped").fit()
    assert load_checkpoint(root / "stopped" / "checkpoints" / "last.pt")["epoch"] == 1
    return plugins, recipe, root / "straight", root / "stopped"


@HYP
@given(name=st.sampled_from(SIDE_FILES), how=corruption(size=3000))
def test_resume__a_damaged_side_file_neither_blocks_nor_changes_the_result(runs, tmp_path_factory, name, how):
    plugins, recipe, straight, stopped = runs
    run = copy_run(stopped, tmp_path_factory.mktemp("side") / "run")
    path = run / name
    size = max(path.stat().st_size, 1)
    damage(path, (how[0], tuple(a % size if isinstance(a, int) else a for a in how[1])))
    results = Trainer(recipe, plugins, run_dir=run, resume="auto").fit()
    a, b = (load_checkpoint(d / "checkpoints" / "last.pt")["model"] for d in (straight, run))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert results.model  # the final evaluation ran
    assert (run / "recipe.toml").read_text() == (straight / "recipe.toml").read_text()  # rewritten whole


@HYP
@given(which=st.sampled_from(["best", "last"]), how=corruption(size=60_000))
def test_eval__a_damaged_checkpoint_is_one_line_and_changes_no_file(runs, tmp_path_factory, capsys, monkeypatch, which, how):
    import jasper_core.cli.main as cli

    plugins, recipe, straight, _ = runs
    monkeypatch.setattr(cli, "get_plugins", lambda args: plugins)
    run = copy_run(straight, tmp_path_factory.mktemp("ck") / "run")
    path = run / "checkpoints" / f"{which}.pt"
    size = path.stat().st_size
    if not damage(path, (how[0], tuple(a % size if isinstance(a, int) else a for a in how[1]))):
        return
    before = snapshot(run)
    capsys.readouterr()
    rc = main(["eval", str(path), "--split", "val", "--out", str(run.parent / "out.json")])
    out, err = capsys.readouterr()
    if rc == 0:  # a byte no reader looks at: the weights are the original ones
        a, b = (load_checkpoint(p)["model"] for p in (path, straight / "checkpoints" / f"{which}.pt"))
        assert all(torch.equal(a[k], b[k]) for k in b)
    else:
        assert rc == 1 and one_line(err).startswith(f"error: {path}: ")
    assert snapshot(run) == before
