"""Portable runs and models: a run whose recipe names its dataset by a relative path works from any working
directory, a vanished dataset is one clear line, and an exported config.json holds no path of the training machine.

In ``make test-all`` (the checkpoint rewriting and an evaluation cost about a second)."""

import json

import pytest

from conftest import copy_run
from jasper_core.cli.main import main
from jasper_core.training.checkpoint import atomic_save, load_checkpoint

pytestmark = pytest.mark.slow


@pytest.fixture
def relative_run(tiny_run, tmp_path):
    """A copy of the tiny run whose checkpoints' recipes name the dataset as ``data`` (relative to where it trained)."""
    run = copy_run(tiny_run.path, tmp_path / "run")
    for file in (run / "checkpoints").glob("*.pt"):
        ckpt = load_checkpoint(file)
        stored = ckpt["dataset"]["path"]
        assert stored and stored.startswith("/")  # the training recorded where the dataset was
        ckpt["recipe"] = ckpt["recipe"].replace(f'path = "{stored}"', 'path = "data"')
        assert 'path = "data"' in ckpt["recipe"]
        atomic_save(ckpt, file)  # rewritten as a run would have written it (content checksum included)
    return run


def test_eval__a_relative_dataset_path_works_from_another_directory(relative_run, tmp_path, monkeypatch, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["eval", str(relative_run), "--split", "val", "-q"]) == 0
    assert (relative_run / "eval-val.json").is_file() and "retrieval on val" in capsys.readouterr().out


def test_export__a_vanished_dataset_is_one_line_and_config_has_no_absolute_path(relative_run, tiny_run, tmp_path,
                                                                              monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for file in (relative_run / "checkpoints").glob("*.pt"):
        ckpt = load_checkpoint(file)
        ckpt["dataset"]["path"] = str(tmp_path / "gone")
        atomic_save(ckpt, file)  # rewritten as a run would have written it (content checksum included)
    assert main(["export", str(relative_run), "--out", str(tmp_path / "m"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dataset directory not found" in err and "pass --data DIR" in err
    assert main(["export", str(tiny_run.path), "--out", str(tmp_path / "m2"), "-q"]) == 0
    text = (tmp_path / "m2" / "config.json").read_text() + (tmp_path / "m2" / "README.md").read_text()
    assert str(tiny_run.path.parent.parent) not in text and 'path = \\"data\\"' in text
    assert json.loads((tmp_path / "m2" / "config.json").read_text())["checkpoint"]["file"] == "best.pt"
