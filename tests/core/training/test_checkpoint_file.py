"""The checkpoint file itself: what load_checkpoint refuses, and atomic_save never leaving half a file."""

import pytest
import torch

from jasper_core.errors import CheckpointError
from jasper_core.training.checkpoint import FORMAT, REQUIRED, VERSION, atomic_save, load_checkpoint


def complete():
    return {"format": FORMAT, "version": VERSION, "model": {}, "target": {}, "optimizer": {}, "step": 1, "epoch": 1,
            "recipe": ""}


def test_load_checkpoint__accepts_a_complete_file_and_names_each_defect(tmp_path):
    path = tmp_path / "c.pt"
    atomic_save(complete(), path)
    assert load_checkpoint(path)["epoch"] == 1
    assert set(REQUIRED) <= set(complete())
    with pytest.raises(CheckpointError, match=r"nowhere\.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "nowhere.pt")
    for data, message in [
        ({"weights": torch.zeros(2)}, "not a jasper checkpoint"),
        (torch.zeros(2), "not a jasper checkpoint"),
        ({**complete(), "version": 1}, f"checkpoint version 1 is not supported \\(this jasper reads version {VERSION}\\)"),
        ({k: v for k, v in complete().items() if k not in ("optimizer", "recipe")}, "checkpoint is missing optimizer, recipe"),
    ]:
        torch.save(data, path)
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(path)


def test_atomic_save__a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "ckpt" / "last.pt"
    atomic_save(complete(), path)
    before = path.read_bytes()
    with pytest.raises(Exception):
        atomic_save({**complete(), "bad": lambda: None}, path)  # cannot be pickled
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_atomic_save__file_mode_follows_the_umask(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        atomic_save({"x": 1}, tmp_path / "a.pt")
        os.umask(0o077)
        atomic_save({"x": 1}, tmp_path / "b.pt")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.pt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.pt").stat().st_mode) == 0o600
