"""The corpus index: FAISS (IVF lists = clusters, flat for exact) and torch return the same top-k; saved indexes,
the training-corpus index of ``jasper export --faiss``, the fallback without FAISS."""

import json
import logging
import sys

import pytest
import torch
import torch.nn.functional as F

import jasper
from jasper_core.errors import JasperError
from jasper_core.inference.faiss_index import FaissIndex
from jasper_core.inference.index import TorchIndex, build_index


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("index") / "model"
    assert jasper.export(tiny_run.path, out, checkpoint="last", faiss=True) == out  # the façade of `jasper export --faiss`
    return out


def _corpus(seed=0, size=300, dim=16, clusters=6):
    g = torch.Generator().manual_seed(seed)
    centroids = F.normalize(torch.randn(clusters, dim, generator=g), dim=-1)
    corpus = F.normalize(torch.randn(size, dim, generator=g), dim=-1)
    queries = F.normalize(torch.randn(40, dim, generator=g), dim=-1)
    return corpus, (corpus @ centroids.T).argmax(1), centroids, queries


def test_index__faiss_and_torch_return_the_same_top_k_exact_and_routed():
    corpus, lists, centroids, queries = _corpus()
    torch_index, faiss_index = TorchIndex(corpus, lists, 6), FaissIndex(corpus, lists, centroids)
    routes = [None, (queries @ centroids.T).topk(1, dim=1).indices, (queries @ centroids.T).topk(3, dim=1).indices]
    for top in routes:
        a, b = torch_index.search(queries, 10, top), faiss_index.search(queries, 10, top)
        assert torch.equal(a.rows, b.rows) and torch.allclose(a.scores, b.scores, atol=1e-5)
    exact = (queries @ corpus.T).topk(10, dim=1).indices
    assert torch.equal(torch_index.search(queries, 10).rows, exact)
    allowed = (lists.unsqueeze(0).unsqueeze(2) == routes[2].unsqueeze(1)).any(2)  # [N, S] masked reference
    masked = (queries @ corpus.T).masked_fill(~allowed, float("-inf")).topk(10, dim=1).indices
    assert torch.equal(torch_index.search(queries, 10, routes[2]).rows, masked)


def test_index__a_list_shorter_than_k_pads_with_minus_one_in_both():
    corpus, lists, centroids, queries = _corpus(size=30, clusters=6)
    top = torch.full((queries.shape[0], 1), int(lists[0]))
    a, b = TorchIndex(corpus, lists, 6).search(queries, 20, top), FaissIndex(corpus, lists, centroids).search(queries, 20, top)
    short = int((lists == lists[0]).sum())
    assert torch.equal(a.rows, b.rows) and bool((a.rows[:, short:] == -1).all()) and bool((a.rows[:, :short] >= 0).all())
    assert bool(torch.isinf(b.scores[:, short:]).all())


def _same(a, b):
    """Equal ranked ids and clusters; scores equal up to float rounding (FAISS and torch sum in other orders)."""
    assert [[(h["id"], h["cluster"]) for h in hits] for hits in a] == [[(h["id"], h["cluster"]) for h in hits] for hits in b]
    assert [h["score"] for hits in a for h in hits] == pytest.approx([h["score"] for hits in b for h in hits], abs=1e-5)


def test_model_index__faiss_and_torch_backends_agree_on_the_models_search(exported):
    model = jasper.load(exported)
    q = torch.randn(12, 16, generator=torch.Generator().manual_seed(1))
    assert model.corpus.index.backend == "faiss" and (exported / "index" / "ivf.faiss").is_file()
    for m in (None, 1, 2):
        faiss_hits = model.search(q, k=10, routed_top_m=m)
        model.load_index(exported / "index", backend="torch")
        assert model.corpus.index.backend == "torch"
        _same(model.search(q, k=10, routed_top_m=m), faiss_hits)
        model.load_index(exported / "index")


def test_export_faiss__the_training_corpus_is_searched_in_three_lines(exported, tiny_run, plugins):
    from jasper_core.training.run_state import load_trained

    setup, _, _ = load_trained(tiny_run.path, plugins, prefer="last")
    ds = setup.dataset
    hits = jasper.load(exported).search(ds.questions[:3], k=5)
    assert len(hits) == 3 and all(len(h) == 5 for h in hits) and hits[0][0]["score"] >= hits[0][4]["score"]
    meta = json.loads((exported / "index" / "index.json").read_text())
    assert meta["size"] == ds.sources.shape[0] and meta["backend"] == "faiss"
    labelled = ds.source_cluster >= 0
    stored = jasper.load(exported).corpus.clusters
    assert torch.equal(stored[labelled], ds.source_cluster[labelled].cpu())  # lists = the dataset's cluster labels


def test_save_index__round_trip_and_refused_for_another_model(exported, tmp_path):
    model = jasper.load(exported)
    q = torch.randn(5, 16, generator=torch.Generator().manual_seed(2))
    model.index(torch.randn(50, 16), ids=[f"s{i}" for i in range(50)], backend="torch")
    before = model.search(q, k=7, routed_top_m=2)
    model.save_index(tmp_path / "ix")
    assert not (tmp_path / "ix" / "ivf.faiss").exists()
    _same(jasper.load(exported).load_index(tmp_path / "ix").search(q, k=7, routed_top_m=2), before)
    assert jasper.load(exported).load_index(tmp_path / "ix", backend="torch").search(q, k=7, routed_top_m=2) == before
    with pytest.raises(JasperError, match="not an empty directory"):
        model.save_index(tmp_path / "ix")
    meta = json.loads((tmp_path / "ix" / "index.json").read_text())
    (tmp_path / "ix" / "index.json").write_text(json.dumps({**meta, "fingerprint": "0" * 16}))
    with pytest.raises(JasperError, match="built for another model .* must be re-encoded"):
        model.load_index(tmp_path / "ix")
    with pytest.raises(JasperError, match="not a jasper index directory"):
        model.load_index(tmp_path)


def test_without_faiss__the_same_api_falls_back_to_torch_with_one_warning(exported, monkeypatch, caplog):
    corpus, lists, centroids, queries = _corpus()
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    with caplog.at_level(logging.WARNING, logger="jasper"):
        index = build_index(corpus, lists, centroids, "faiss")
        model = jasper.load(exported)  # its index/ was saved with FAISS
    assert index.backend == "torch" and model.corpus.index.backend == "torch"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("faiss is not installed" in w and "jasper-retrieval[faiss]" in w for w in warnings)
    assert build_index(corpus, lists, centroids).backend == "torch" and len(caplog.records) == 2  # auto: silent
