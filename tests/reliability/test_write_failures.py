"""Class 6 of the review: a full disk, a read-only place, a file where a directory should be. Each is
one line naming the path, and the file that was there before is intact (writes are atomic)."""

import errno
import os
from pathlib import Path

import pytest
import torch

from hostile import one_line, snapshot
from jasper_core.errors import JasperError, WriteError
from jasper_core.training import checkpoint
from jasper_core.training.checkpoint import atomic_save, atomic_write_text
from jasper_core.training.run_dir import RunDir


class FullDisk:
    """A file object whose writes fail with ENOSPC after ``room`` bytes (as a full disk does)."""

    def __init__(self, fh, room):
        self.fh, self.room = fh, room

    def write(self, data):
        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


@pytest.mark.parametrize("room", [0, 100, 3000])
def test_atomic_save__a_full_disk_is_one_line_and_the_old_file_survives(tmp_path, monkeypatch, room):
    path = tmp_path / "last.pt"
    atomic_save({"w": torch.ones(3)}, path)
    before = path.read_bytes()
    real = os.fdopen
    monkeypatch.setattr(checkpoint.os, "fdopen", lambda fd, mode: FullDisk(real(fd, mode), room))
    with pytest.raises(WriteError) as err:
        atomic_save({"w": torch.zeros(4000)}, path)
    assert str(err.value) == f"{path}: cannot write (the disk is full); nothing there was changed"
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary left


@pytest.mark.parametrize("where, code, said", [
    ("mkstemp", errno.EACCES, "permission denied"),
    ("mkstemp", errno.EROFS, "the file system is read-only"),
    ("replace", errno.EDQUOT, "the disk quota is exceeded"),
    ("fsync", errno.EIO, os.strerror(errno.EIO)),
])
def test_atomic_write__operating_system_errors_are_one_line(tmp_path, monkeypatch, where, code, said):
    path = tmp_path / "recipe.toml"
    path.write_text("old")

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    target = checkpoint.tempfile if where == "mkstemp" else checkpoint.os
    monkeypatch.setattr(target, where, fail)
    with pytest.raises(WriteError, match=f"recipe.toml: cannot write \\({said}\\)"):
        atomic_write_text(path, "new")
    monkeypatch.undo()
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["recipe.toml"]


def test_run_dir__that_is_a_file_or_below_one_is_one_line_before_any_work(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("mine")
    with pytest.raises(JasperError, match="afile: is a file, not a directory"):
        with RunDir(blocker).lock():
            pass
    with pytest.raises(WriteError, match=r"afile/sub: cannot write \(Not a directory\)"):
        with RunDir(blocker / "sub").lock():
            pass
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoints").write_text("x")
    with pytest.raises(JasperError, match="checkpoints: is a file"):
        with RunDir(tmp_path / "run").lock():
            pass
    assert blocker.read_text() == "mine"


def test_lock__an_unwritable_directory_is_one_line(tmp_path, monkeypatch):
    real = os.open

    def refuse(path, *args, **kwargs):
        if Path(path).name.startswith(".lock"):  # the lock, or the temporary file it is linked from
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(WriteError, match=r"\.lock: cannot write \(permission denied\)"):
        with RunDir(tmp_path / "run").lock():
            pass


def test_lock__temporaries_of_a_killed_writer_are_removed(tmp_path):
    run = RunDir(tmp_path / "run")
    run.checkpoints.mkdir(parents=True)
    left = [run.checkpoints / ".last.pt.abc123.tmp", run.path / ".eval.json.x.tmp"]
    for p in left:
        p.write_bytes(b"partial")
    keep = run.checkpoints / "last.pt"
    keep.write_bytes(b"whole")
    with run.lock():
        assert not any(p.exists() for p in left) and keep.read_bytes() == b"whole"


@pytest.mark.slow
def test_eval__a_read_only_run_directory_prints_the_results_then_one_line(tiny_run, tmp_path, monkeypatch, capsys):
    from jasper_core.cli.main import main

    before = snapshot(tiny_run.path)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(checkpoint.tempfile, "mkstemp", read_only)
    assert main(["eval", str(tiny_run.path), "--split", "val"]) == 1
    out, err = capsys.readouterr()
    assert "question_cosine" in out and "model mrr" in out  # the computed results were not lost
    line = one_line(err)
    assert "eval-val.json: cannot write (the file system is read-only)" in line and "printed above" in line
    assert snapshot(tiny_run.path) == before


def test_main__an_os_error_no_command_expected_is_still_one_line(monkeypatch, capsys):
    from jasper_core.cli import plugins_cmd
    from jasper_core.cli.main import main

    def broken(plugins):
        raise PermissionError(errno.EACCES, "Permission denied", "/some/where")

    monkeypatch.setattr(plugins_cmd, "describe", broken)
    assert main(["plugins"]) == 1
    assert one_line(capsys.readouterr().err) == "error: /some/where: Permission denied"
