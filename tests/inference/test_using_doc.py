"""docs/using.md is an executed example: its shell blocks (through ``main``) and its Python block run, in order,
in a fresh directory (training one epoch instead of fifteen; the ``jasper explain`` block is left out)."""

import re
import shlex
from pathlib import Path

import pytest

from jasper_core.cli.main import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "using.md"


@pytest.mark.slow
def test_using_doc__train_export_load_search_run_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```(sh|python)\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    ran = []
    for kind, body in blocks:
        if "jasper explain" in body:
            continue
        if kind == "python":
            exec(compile(body, str(DOC), "exec"), {})
            ran.append("python")
            continue
        for line in body.strip().splitlines():
            args = shlex.split(line.split("  #")[0])[1:]
            if args[0] == "train":
                args += ["--set", "train.epochs=1", "--set", "logger=[]"]
            assert main(args) == 0, line
            ran.append(args[0])
    assert ran == ["train", "export", "search", "python", "search"]
    out = capsys.readouterr().out
    assert '"routed_cluster"' in out and "'score'" in out
    assert (tmp_path / "models" / "q" / "index" / "ivf.faiss").is_file() and (tmp_path / "models" / "q-mine").is_dir()
