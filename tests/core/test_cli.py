"""The CLI: plugins listing, check, and bad recipes that create nothing."""

import json
import runpy
import subprocess
import sys

import pytest

from jasper_core.cli.main import main


def test_cli__plugins_table_lists_every_kind_with_plugin(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for kind in ("dataset", "model", "encoder", "loss", "schedule", "metric", "logger"):
        assert kind in out
    assert "jasper-retrieval 0.1.0" in out and "temperature=0.05" in out


def test_cli__plugins_json_shape(capsys):
    assert main(["plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all({"kind", "name", "plugin", "config"} <= set(r) for r in rows)
    vicreg = next(r for r in rows if r["name"] == "vicreg")
    assert vicreg["kind"] == "loss" and vicreg["config"]["variance_weight"] == 1.0


def test_cli__check_runs_one_batch(tiny_recipe_file, capsys):
    assert main(["check", str(tiny_recipe_file)]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "infonce=" in out and "ok" in out


def test_cli__bad_recipe_exits_2_lists_all_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nhidden_dim = -3\n[[loss]]\ntype = "infonse"\n[train]\nepochs = 0\n')
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["train", str(bad), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "has 3 problems" in err and "model.hidden_dim" in err and "loss[0].type" in err and "train.epochs" in err
    assert main(["check", str(bad)]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("module", ["jasper", "jasper_core"])
def test_cli__python_m_runs_the_cli(module, capsys, monkeypatch):
    """``python -m jasper`` / ``python -m jasper_core``, run in this process (a fresh one: the slow test below)."""
    monkeypatch.setattr(sys, "argv", [module, "--version"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("jasper 0.1.0")


@pytest.mark.slow
def test_cli__python_m_jasper_works():
    out = subprocess.run([sys.executable, "-m", "jasper", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("jasper ")
