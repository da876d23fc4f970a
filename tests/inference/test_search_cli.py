"""``jasper search``: a JSONL corpus ranked by an exported model, as text or JSON; broken input is one line."""

import json

import pytest
import torch

import jasper
from jasper_core.cli.main import main


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("search") / "model"
    assert main(["export", str(tiny_run.path), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def files(exported, tmp_path_factory):
    """A corpus of 20 synthetic sources with embeddings, and 3 questions as embeddings."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("search_files")
    sources, questions = torch.randn(20, 16), torch.randn(3, 16)
    corpus = root / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"id": f"doc-{i}", "embedding": row.tolist()}) for i, row in enumerate(sources)) + "\n\n")
    qfile = root / "questions.jsonl"
    qfile.write_text("\n".join(json.dumps({"id": f"q{i}", "embedding": row.tolist()}) for i, row in enumerate(questions)))
    return corpus, qfile, sources, questions


def test_search_cli__json_lines_equal_the_python_api(exported, files, capsys):
    corpus, qfile, sources, questions = files
    capsys.readouterr()
    assert main(["search", str(exported), "--corpus", str(corpus), "--questions", str(qfile), "--k", "4",
                 "--cluster", "topic-1", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["question"] for r in lines] == ["q0", "q1", "q2"]
    model = jasper.load(exported).index(sources, ids=[f"doc-{i}" for i in range(20)])
    expected = model.search(questions, k=4, steering="topic-1")
    assert [r["results"] for r in lines] == json.loads(json.dumps(expected))
    assert main(["search", str(exported), "--corpus", str(corpus), "--questions", str(qfile), "--routed-top-m", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("question: q") == 3 and "  1. " in out and "[topic-" in out


@pytest.mark.parametrize("content, message", [
    ('{"id": 1, "embedding": [1.0]}\n{"id": 2, "embedding": [1.0\n', "corpus.jsonl:2: not valid JSON"),
    ('{"embedding": [1.0]}\n', 'corpus.jsonl:1: no "id"'),
    ('{"id": 1, "title": "x"}\n', "corpus.jsonl:1: needs 'text' or 'embedding'"),
    ('{"id": 1, "embedding": "x"}\n', 'corpus.jsonl:1: "embedding" must be a list of numbers'),
    ('[1, 2]\n', "corpus.jsonl:1: expected a JSON object"),
    ('{"id": 1, "text": "a"}\n{"id": 2, "embedding": [1.0]}\n', "mixes records"),
    ("\n", "no corpus records"),
    ('{"id": 1, "embedding": [1.0, 2.0]}\n', "sources must be texts or a float array [N, 16], got shape [1, 2]"),
])
def test_search_cli__broken_corpus_is_one_error_line(exported, tmp_path, capsys, content, message):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(content)
    assert main(["search", str(exported), "--corpus", str(corpus), "--question", "q", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_search_cli__missing_files_and_bad_hints(exported, files, tmp_path, capsys):
    corpus, qfile, _, _ = files
    cases = [
        (["--corpus", str(tmp_path / "none.jsonl"), "--question", "q"], "none.jsonl: corpus file not found"),
        (["--corpus", str(corpus), "--questions", str(tmp_path / "q.txt")], "q.txt: questions file not found"),
        (["--corpus", str(corpus), "--questions", str(qfile), "--cluster", "topic-7"], 'did you mean "topic-'),
        (["--corpus", str(corpus), "--question", "how do I open a file?"], "not a text model"),
    ]
    for args, message in cases:
        assert main(["search", str(exported), *args, "--quiet"]) == 1, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (args, err)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert main(["search", str(exported), "--corpus", str(corpus), "--questions", str(empty)]) == 1
    assert "no questions" in capsys.readouterr().err


def test_search_cli__the_corpus_is_encoded_once_then_read_from_the_cache(exported, files, tmp_path, monkeypatch, capsys):
    from jasper_core.inference.model import JasperModel

    source, qfile, _, _ = files
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(source.read_text() + json.dumps({"id": "extra", "embedding": [0.5] * 16}) + "\n")
    args = ["search", str(exported), "--corpus", str(corpus), "--questions", str(qfile), "--json", "--routed-top-m", "2"]
    assert main(args) == 0
    first = capsys.readouterr()
    assert "encoding 21 sources" in first.err and "cached the encoded corpus" in first.err

    def no_encoding(self, sources):
        raise AssertionError("the corpus was encoded again")

    monkeypatch.setattr(JasperModel, "encode_corpus", no_encoding)
    assert main([*args, "--save-index", str(tmp_path / "ix")]) == 0
    second = capsys.readouterr()
    assert second.out == first.out and "21 encoded sources from the cache" in second.err
    assert main(["search", str(exported), "--index", str(tmp_path / "ix"), "--questions", str(qfile), "--json",
                 "--routed-top-m", "2", "-q"]) == 0
    third = capsys.readouterr()
    assert third.out == first.out and third.err == ""  # -q: no info lines
    line = json.loads(first.out.splitlines()[0])
    assert line["routed_cluster"].startswith("topic-") and 0 < line["routing_weight"] <= 1
    corpus.write_text(corpus.read_text() + json.dumps({"id": "more", "embedding": [0.1] * 16}) + "\n")
    with pytest.raises(AssertionError, match="encoded again"):  # another content: another cache entry
        main(args)
