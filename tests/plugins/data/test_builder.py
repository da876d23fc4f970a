"""``jasper data build``: a small JSONL round-trips into a valid dataset (real MiniLM embeddings)."""

import json

import pytest
import torch

from conftest import TEXT_RECORDS as RECORDS
from jasper_core.cli.main import main
from jasper_core.errors import DatasetError
from jasper_plugins.data.builder import read_records
from jasper_plugins.data.dataset import JasperDataset, JasperDatasetConfig


def test_builder__jsonl_round_trip(text_dataset, tmp_path, capsys):
    out = text_dataset  # `jasper data build RECORDS --negatives 2 1 1 --val 0.2 --test 0.2` (the fixture checks it exits 0)
    ds = JasperDataset(JasperDatasetConfig(path=str(out)), device="cpu")
    assert ds.dim == 384 and ds.num_clusters == 3 and ds.cluster_names == ["concurrency", "files", "formats"]
    assert ds.texts["questions"][0] == RECORDS[0]["question"]
    assert len(ds.split("train")) + len(ds.split("val")) + len(ds.split("test")) == 12
    assert torch.allclose(ds.sources.norm(dim=1), torch.ones(12), atol=1e-4)
    # tier 0 and 1 negatives come from the pair's own cluster, tier 2 from another, never the positive
    same = ds.source_cluster[ds.negatives] == ds.pair_cluster.unsqueeze(1)
    assert bool(same[:, :3].all()) and not bool(same[:, 3].any())
    assert not bool((ds.negatives == ds.pair_source.unsqueeze(1)).any())
    # centroid steering points from the question toward its cluster centroid
    cos = torch.nn.functional.cosine_similarity(ds.steering_table[0], ds.centroids[ds.pair_cluster] - ds.questions[ds.pair_question])
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
