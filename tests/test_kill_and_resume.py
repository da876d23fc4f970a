"""Scenario: a training process killed mid-epoch resumes to completion with the uninterrupted result."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import TINY_RECIPE, write_synthetic
from jasper_core.training.checkpoint import load_checkpoint
from jasper_core.training.run_dir import RunDir


def last(run_dir):
    return RunDir(run_dir).checkpoint("last")


def jasper(*args):
    return [sys.executable, "-m", "jasper", *args]


@pytest.mark.slow
def test_kill_mid_epoch_then_resume(tmp_path):
    data = write_synthetic(tmp_path / "data", per_cluster=400, dim=32)  # ~100 steps per epoch
    recipe = tmp_path / "r.toml"
    recipe.write_text(TINY_RECIPE.format(path=data).replace("epochs = 3", "epochs = 4"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    straight = subprocess.run(jasper("train", str(recipe), "--run-dir", str(tmp_path / "straight")),
                              capture_output=True, text=True, env=env, timeout=300)
    assert straight.returncode == 0, straight.stderr

    run = tmp_path / "killed"
    proc = subprocess.Popen(jasper("train", str(recipe), "--run-dir", str(run)), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = run / "history.jsonl"
    deadline = time.time() + 240
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        if history.exists():
            events = [json.loads(x) for x in history.read_text().splitlines() if x.strip()]
            epochs_done = [e["epoch"] for e in events if e["event"] == "eval" and e["epoch"] > 0]
            steps = [e["step"] for e in events if e["event"] == "step"]
            if epochs_done and steps and steps[-1] > 100 * epochs_done[-1] + 20:  # inside the next epoch
                proc.send_signal(signal.SIGKILL)
                killed_at = (epochs_done[-1], steps[-1])
                break
        time.sleep(0.05)
    proc.wait(timeout=30)
    assert killed_at is not None, "training finished before it could be killed mid-epoch"
    assert load_checkpoint(last(run))["epoch"] == killed_at[0]  # the last complete epoch survived the kill

    resumed = subprocess.run(jasper("train", str(recipe), "--run-dir", str(run), "--resume", "auto"),
                             capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    a = load_checkpoint(last(tmp_path / "straight"))
    b = load_checkpoint(last(run))
    assert b["epoch"] == 4 and a["step"] == b["step"]
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert json.loads((run / "eval.json").read_text())["model"] == json.loads((tmp_path / "straight" / "eval.json").read_text())["model"]
