"""``jasper explain`` on a small text dataset: a routing model explains its answer to a text question.

Text is embedded by the stand-in ``words_embedder`` (conftest); the real scenario (the subspace recipe
trained on the embedded dataset, questions embedded by MiniLM) is
test_subspace.py::test_explain_cli__trained_subspace_on_real_text, in ``make test-all``.
"""

import json

import pytest
from PIL import Image

from jasper_core.cli.main import main

QUESTION = "How do I copy a file to another folder?"
pytestmark = pytest.mark.usefixtures("use_words_embedder")


@pytest.fixture(scope="module")
def text_run(text_dataset, tmp_path_factory):
    """The subspace recipe (a Gumbel-Softmax routing model), shrunk, trained two epochs on the text dataset."""
    run = tmp_path_factory.mktemp("explain") / "run"
    assert main(["train", "subspace", "--data", str(text_dataset), "--run-dir", str(run),
                 "--set", "train.epochs=2", "--set", "train.batch_size=4", "--set", "model.hidden_dim=16",
                 "--set", "model.router.hidden_dim=16", "--set", "target_space.encoder.hidden_dim=16",
                 "--set", "logger=[]"]) == 0
    return run


def test_explain_cli__json_and_figure_with_cluster_steering(text_run, tmp_path, capsys):
    capsys.readouterr()
    figure = tmp_path / "e.png"
    assert main(["explain", str(text_run), "--question", QUESTION, "--steering-cluster", "files",
                 "--json", "--figure", str(figure)]) == 0
    e = json.loads(capsys.readouterr().out)  # stdout holds the JSON alone
    names = ["concurrency", "files", "formats"]
    assert e["primary_subspace"] in names and set(e["routing_distribution"]) == set(names)
    assert sum(e["routing_distribution"].values()) == pytest.approx(1.0, abs=1e-4)
    assert e["routing_source"] == "router" and e["steering_influence"]["steered"] is True
    with Image.open(figure) as img:
        img.verify()


def test_explain_cli__readable_report_with_text_steering(text_run, capsys):
    capsys.readouterr()
    assert main(["explain", str(text_run), "--question", QUESTION, "--steering-text", "shutil copy"]) == 0
    out = capsys.readouterr().out
    assert "steering: text 'shutil copy' (keyword-weighted)" in out
    for part in ("routed to", "steering influence", "atypicality", "similar known questions", "top sources", "signal"):
        assert part in out, part
    assert main(["explain", str(text_run), "--question", QUESTION]) == 0
    assert "steering: none" in capsys.readouterr().out


def test_explain_cli__unknown_cluster_suggests_the_name(text_run, capsys):
    assert main(["explain", str(text_run), "--question", QUESTION, "--steering-cluster", "fiels"]) == 1
    err = capsys.readouterr().err
    assert "unknown cluster 'fiels'" in err and "files" in err


def test_explain_cli__refuses_text_for_a_synthetic_dataset(tiny_run, capsys):
    assert main(["explain", str(tiny_run.path), "--question", QUESTION]) == 1
    assert "not a text model" in capsys.readouterr().err


def test_explain_cli__batch_of_questions_loads_the_model_once(text_run, tmp_path, capsys, monkeypatch):
    import jasper_plugins.xai.command as command

    loads = []
    real = command.load_trained
    monkeypatch.setattr(command, "load_trained", lambda *a, **k: loads.append(1) or real(*a, **k))
    questions = tmp_path / "questions.txt"
    questions.write_text(f"{QUESTION}\nHow to parse a JSON string?\n\nHow do I start a thread?\n")
    capsys.readouterr()
    assert main(["explain", str(text_run), "--questions", str(questions), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["question"] for r in rows] == [QUESTION, "How to parse a JSON string?", "How do I start a thread?"]
    assert all(r["primary_subspace"] in ("concurrency", "files", "formats") for r in rows) and loads == [1]
    assert [command._figure_path("out/f.png", i, n).as_posix() for i, n in ((0, 1), (0, 3), (2, 3))] == [
        "out/f.png", "out/f-1.png", "out/f-3.png"]  # one figure per question in batch mode
    assert main(["explain", str(text_run), "--questions", str(questions), "-q"]) == 0
    assert capsys.readouterr().out.count("routed to") == 3
