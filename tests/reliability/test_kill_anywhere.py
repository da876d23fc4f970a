"""Kills at random instants, and a file-size limit, in real processes (``make test-all``): after
``--resume auto`` the run ends bit-identical to an uninterrupted one; nothing is lost or mixed."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TINY_RECIPE, write_synthetic
from hostile import one_line
from jasper_core.training.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def jasper(*args):
    return [sys.executable, "-m", "jasper", *map(str, args)]


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """A recipe of ~30 steps per epoch over 4 epochs, and its uninterrupted run (with its duration)."""
    root = tmp_path_factory.mktemp("kill")
    data = write_synthetic(root / "data", per_cluster=150)
    recipe = root / "r.toml"
    recipe.write_text(TINY_RECIPE.format(path=data).replace("epochs = 3", "epochs = 4")
                      + '\n[[logger]]\ntype = "csv"\n')
    straight = root / "straight"
    proc = subprocess.Popen(jasper("train", recipe, "--run-dir", straight), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    started = wait_for(straight / ".lock", proc)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    return recipe, straight, time.monotonic() - started


def wait_for(path: Path, proc) -> float:
    while not path.exists() and proc.poll() is None:
        time.sleep(0.005)
    return time.monotonic()


def weights(path: Path) -> dict:
    return load_checkpoint(path)["model"]


def assert_same_run(a: Path, b: Path) -> None:
    for which in ("last", "best"):
        wa, wb = weights(a / "checkpoints" / f"{which}.pt"), weights(b / "checkpoints" / f"{which}.pt")
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), which
    ea, eb = (json.loads((d / "eval.json").read_text()) for d in (a, b))
    assert ea["model"] == eb["model"] and ea["best"] == eb["best"]


@settings(max_examples=5, deadline=None)  # each example is two processes: not the profile's budget
@given(fraction=st.floats(0.0, 1.0))
def test_kill__at_any_instant_then_resume_auto_is_bit_identical(setting, fraction):
    recipe, straight, duration = setting
    run = Path(tempfile.mkdtemp()) / "run"
    proc = subprocess.Popen(jasper("train", recipe, "--run-dir", run), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(run / ".lock", proc)
    time.sleep(fraction * duration)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    for ck in (run / "checkpoints").glob("*.pt") if (run / "checkpoints").is_dir() else ():
        load_checkpoint(ck)  # whatever the instant, every checkpoint on disk is whole
    resumed = subprocess.run(jasper("train", recipe, "--run-dir", run, "--resume", "auto"), env=ENV,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, (fraction, resumed.stderr)
    assert_same_run(straight, run)
    assert not list(run.rglob(".*.tmp")) and not (run / ".lock").exists()


def test_file_size_limit__is_one_line_then_resume_finishes_the_run(setting, tmp_path):
    recipe, straight, _ = setting
    run = tmp_path / "run"
    limited = ("import resource, signal, sys\n"
               "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
               "resource.setrlimit(resource.RLIMIT_FSIZE, (16000, 16000))\n"
               "from jasper_core.cli.main import main\n"
               f"sys.exit(main(['train', {str(recipe)!r}, '--run-dir', {str(run)!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", limited], env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert line.startswith(f"error: {run}/checkpoints/") and "cannot write (the file-size limit is reached)" in line
    assert not list((run / "checkpoints").glob("*.pt")) and not list(run.rglob(".*.tmp"))
    resumed = subprocess.run(jasper("train", recipe, "--run-dir", run, "--resume", "auto"), env=ENV,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(straight, run)
