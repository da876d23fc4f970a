"""The dataset plugin: every format loads through one plugin; corrupt inputs give clear errors."""

import json
import os
import shutil

import pytest
import torch

from conftest import write_synthetic
from jasper_core.errors import DatasetError
from jasper_plugins.data.dataset import JasperDataset, JasperDatasetConfig


def load(path, **kw):
    return JasperDataset(JasperDatasetConfig(path=str(path), **kw), device="cpu")


def test_dataset__legacy_native_h5_and_embedded_load_alike(tmp_path, synthetic_dir):
    import h5py

    legacy = load(synthetic_dir)
    native = write_synthetic(tmp_path / "native", fmt="native")
    h5dir = tmp_path / "h5"
    h5dir.mkdir()
    shutil.copy(synthetic_dir / "config.json", h5dir / "config.json")
    with h5py.File(h5dir / "dataset.h5", "w") as f:
        for pt in synthetic_dir.glob("*.pt"):
            f[pt.stem] = torch.load(pt, weights_only=True).numpy()
    for other in (load(native), load(h5dir)):
        assert other.format in ("native", "h5")
        assert torch.equal(other.questions, legacy.questions) and torch.equal(other.negatives, legacy.negatives)
        assert other.cluster_names == legacy.cluster_names == ["topic-0", "topic-1", "topic-2", "topic-3"]
    embedded = load("embedded")
    assert embedded.dim == 384 and embedded.num_clusters > 10 and embedded.texts["questions"]
    assert embedded.questions.dtype == torch.float32  # stored fp16, trained in fp32


def test_dataset__keyword_ids_as_list_of_lists_are_padded(tmp_path, synthetic_dir):
    copy = tmp_path / "d"
    shutil.copytree(synthetic_dir, copy)
    torch.save([[0, 1], [2], []] + [[i] for i in range(3, 120)], copy / "pair_keyword_ids.pt")
    ds = load(copy)
    assert ds.pair_keyword_ids.shape == (120, 2) and int(ds.pair_keyword_ids[2, 0]) == -1


def corrupt(tmp_path, synthetic_dir, name, value):
    copy = tmp_path / "bad"
    shutil.copytree(synthetic_dir, copy)
    if value is None:
        os.remove(copy / f"{name}.pt")
    elif isinstance(value, bytes):
        (copy / f"{name}.pt").write_bytes(value)
    else:
        torch.save(value, copy / f"{name}.pt")
    return copy


def original(synthetic_dir, name):
    return torch.load(synthetic_dir / f"{name}.pt", weights_only=True)


def test_dataset__missing_file(tmp_path, synthetic_dir):
    with pytest.raises(DatasetError, match=r"hard_negatives\.pt: missing tensor 'hard_negatives'"):
        load(corrupt(tmp_path, synthetic_dir, "hard_negatives", None))


def test_dataset__wrong_shape(tmp_path, synthetic_dir):
    bad = original(synthetic_dir, "source_embs")[:, :5]
    with pytest.raises(DatasetError, match=r"source_embs\.pt: tensor 'source_embs' has 5 along axis 1 \(D\), but other tensors have 16"):
        load(corrupt(tmp_path, synthetic_dir, "source_embs", bad))


def test_dataset__out_of_range_index(tmp_path, synthetic_dir):
    bad = original(synthetic_dir, "hard_negatives").clone()
    bad[7, 2] = 10_000
    with pytest.raises(DatasetError, match=r"hard_negatives\.pt: tensor 'hard_negatives' has index 10000 at row 7, outside \[0, 120\) of 'source_embs'"):
        load(corrupt(tmp_path, synthetic_dir, "hard_negatives", bad))


def test_dataset__split_index_out_of_range(tmp_path, synthetic_dir):
    bad = original(synthetic_dir, "val_idx").clone()
    bad[0] = 999
    with pytest.raises(DatasetError, match=r"val_idx\.pt: tensor 'val_idx' has index 999 at row 0"):
        load(corrupt(tmp_path, synthetic_dir, "val_idx", bad))


def test_dataset__nan(tmp_path, synthetic_dir):
    bad = original(synthetic_dir, "question_embs").clone()
    bad[11, 3] = float("nan")
    with pytest.raises(DatasetError, match=r"question_embs\.pt: tensor 'question_embs' has NaN or Inf at row 11"):
        load(corrupt(tmp_path, synthetic_dir, "question_embs", bad))


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/jasper-pwned",))


def test_dataset__pickle_that_would_run_code_is_refused(tmp_path, synthetic_dir):
    if os.path.exists("/tmp/jasper-pwned"):
        os.remove("/tmp/jasper-pwned")
    with pytest.raises(DatasetError, match=r"pair_keyword_ids\.pt: refused to load tensor 'pair_keyword_ids'.*would run code"):
        load(corrupt(tmp_path, synthetic_dir, "pair_keyword_ids", [RunsCode()]))
    assert not os.path.exists("/tmp/jasper-pwned")


def test_dataset__truncated_file(tmp_path, synthetic_dir):
    data = (synthetic_dir / "source_embs.pt").read_bytes()
    with pytest.raises(DatasetError, match=r"source_embs\.pt: cannot read tensor 'source_embs'.*damaged"):
        load(corrupt(tmp_path, synthetic_dir, "source_embs", data[: len(data) // 2]))


def test_dataset__wrong_dtype_and_duplicate_split(tmp_path, synthetic_dir):
    with pytest.raises(DatasetError, match="must have a int dtype, got torch.float32"):
        load(corrupt(tmp_path, synthetic_dir, "pair_cluster_id", original(synthetic_dir, "pair_cluster_id").float()))
    dup = original(synthetic_dir, "test_idx").clone()
    dup[1] = dup[0]
    with pytest.raises(DatasetError, match="lists a pair more than once"):
        load(corrupt(tmp_path / "x", synthetic_dir, "test_idx", dup))


def test_dataset__missing_directory_and_bad_config(tmp_path, synthetic_dir):
    with pytest.raises(DatasetError, match="dataset directory not found"):
        load(tmp_path / "nowhere")
    copy = tmp_path / "cfg"
    shutil.copytree(synthetic_dir, copy)
    (copy / "config.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"config\.json: cannot read dataset config"):
        load(copy)


def test_dataset__gather_is_vectorised_and_consistent(synthetic_dir):
    ds = load(synthetic_dir)
    pairs = torch.tensor([0, 5, 9])
    variants = torch.tensor([0, 1, 3])
    b = ds.gather(pairs, variants)
    assert b.question.shape == (3, 16) and b.negatives.shape == (3, 6, 16) and b.negative_tiers.shape == (3, 6)
    assert torch.equal(b.steering[0], torch.zeros(16))
    assert torch.equal(b.steering[1], ds.steering_tables[0][5]) and torch.equal(b.steering[2], ds.steering_tables[2][9])
    assert torch.equal(b.source, ds.sources[ds.pair_source[pairs]])


def test_dataset__negatives_reloaded_from_disk(tmp_path, synthetic_dir):
    copy = tmp_path / "d"
    shutil.copytree(synthetic_dir, copy)
    ds = load(copy, negatives_reload_every=2)
    flipped = original(synthetic_dir, "hard_negatives").flip(1).contiguous()
    torch.save(flipped, copy / "hard_negatives.pt")
    ds.on_epoch_start(2)
    assert not torch.equal(ds.negatives, flipped)
    ds.on_epoch_start(3)
    assert torch.equal(ds.negatives, flipped)


def test_dataset__native_meta_keeps_cluster_names(tmp_path):
    native = write_synthetic(tmp_path / "n", fmt="native")
    assert json.loads((native / "meta.json").read_text())["cluster_names"][0] == "topic-0"


def test_dataset__tensor_files_holding_other_things(tmp_path, synthetic_dir):
    with pytest.raises(DatasetError, match=r"question_embs\.pt: tensor 'question_embs' must be a torch\.Tensor, got dict"):
        load(corrupt(tmp_path, synthetic_dir, "question_embs", {"not": 1}))
    with pytest.raises(DatasetError, match=r"pair_keyword_ids\.pt: tensor 'pair_keyword_ids' must be a tensor or a list of id lists, got str"):
        load(corrupt(tmp_path / "x", synthetic_dir, "pair_keyword_ids", "0 1 2"))


def test_dataset__config_that_is_not_an_object(tmp_path, synthetic_dir):
    copy = tmp_path / "cfg"
    shutil.copytree(synthetic_dir, copy)
    (copy / "config.json").write_text("[1, 2]")
    with pytest.raises(DatasetError, match=r"config\.json: dataset config must be a JSON object, got list"):
        load(copy)


def test_dataset__damaged_native_and_h5_files(tmp_path, synthetic_dir):
    import h5py
    from safetensors.torch import load_file, save_file

    native = write_synthetic(tmp_path / "native", fmt="native")
    meta = json.loads((native / "meta.json").read_text())
    (native / "meta.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "tensors_crc32"}))  # a file edited on purpose
    tensors = load_file(str(native / "tensors.safetensors"))
    save_file({k: v for k, v in tensors.items() if k != "val_idx"}, str(native / "tensors.safetensors"))
    with pytest.raises(DatasetError, match=r"tensors\.safetensors: missing tensor\(s\) val_idx"):
        load(native)
    (native / "tensors.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    with pytest.raises(DatasetError, match=r"tensors\.safetensors: cannot read safetensors file"):
        load(native)

    h5dir = tmp_path / "h5"
    h5dir.mkdir()
    shutil.copy(synthetic_dir / "config.json", h5dir / "config.json")
    with h5py.File(h5dir / "dataset.h5", "w") as f:
        f["question_embs"] = original(synthetic_dir, "question_embs").numpy()
    with pytest.raises(DatasetError, match=r"dataset\.h5: missing dataset '"):
        load(h5dir)
    (h5dir / "dataset.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(DatasetError, match=r"dataset\.h5: cannot read HDF5 file"):
        load(h5dir)


def test_dataset__fp16_native_stays_memory_mapped_and_batches_are_fp32(tmp_path):
    from jasper_core.testing import synthetic_tensors
    from jasper_plugins.data.writer import write_dataset

    tensors, meta = synthetic_tensors()
    root = write_dataset(tmp_path / "fp16", tensors, meta, fmt="native", float_dtype=torch.float16)
    ds = JasperDataset(JasperDatasetConfig(path=str(root)))
    assert ds.question_table.dtype == ds.source_table.dtype == ds.steering_tables[0].dtype == torch.float16
    assert not ds.question_table.untyped_storage().resizable()  # a view of the file's mapping, not a copy
    assert ds.questions.dtype == ds.sources.dtype == torch.float32
    pairs = ds.split("train")[:8]
    batch = ds.gather(pairs, torch.tensor([0, 1, 2, 3] * 2))
    assert batch.question.dtype == batch.source.dtype == batch.negatives.dtype == batch.steering.dtype == torch.float32
    assert torch.equal(batch.question, ds.questions[ds.pair_question[pairs]])
    assert torch.equal(batch.steering[1], ds.steering_tables[0][pairs[1]].float()) and not batch.steering[0].any()
