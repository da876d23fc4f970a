"""Class 1 and 10 of the review, and wider: a damaged checkpoint or dataset file is one line naming
the file, never a traceback and never silently different numbers."""

import json
import shutil

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings

from conftest import write_synthetic
from hostile import corruption, damage
from jasper_core.errors import CheckpointError, DatasetError, JasperError
from jasper_core.training.checkpoint import FORMAT, VERSION, atomic_save, load_checkpoint
from jasper_core.training.run_dir import RunDir
from jasper_plugins.data.readers import load_pt, read_json, read_native

HYP = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def small_checkpoint() -> dict:
    g = torch.Generator().manual_seed(0)
    return {"format": FORMAT, "version": VERSION, "model": {"w": torch.randn(8, 8, generator=g), "b": torch.arange(8.0)},
            "target": {}, "optimizer": {"state": {}, "param_groups": []}, "step": 7, "epoch": 1, "recipe": "[train]\n"}


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "last.pt"
    atomic_save(small_checkpoint(), path)
    return path.read_bytes()


def same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    return a == b


@HYP
@given(how=corruption(size=2000))
@example(how=("overwrite", (1700, b"\n")))  # a newline in a member's name: the message stays one line
@example(how=("overwrite", (1896, b"\x10")))  # a directory entry: every CRC passes, torch reads a tensor from elsewhere
@example(how=("overwrite", (1726, b"\x01")))  # a directory entry's flags: the member reads as encrypted (found by CI)
def test_checkpoint__any_damage_is_one_line_naming_the_file_or_changes_nothing(tmp_path, checkpoint_bytes, how):
    path = tmp_path / "last.pt"
    path.write_bytes(checkpoint_bytes)
    how = (how[0], tuple(a % len(checkpoint_bytes) if isinstance(a, int) else a for a in how[1]))
    damage(path, how)
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        assert "will likely succeed" not in str(exc) and "would run code" not in str(exc)  # damage is not malice
        return
    assert same(loaded, small_checkpoint())  # a byte that no reader looks at (zip header padding, ...)


def test_checkpoint__a_flipped_byte_in_a_tensor_is_caught_by_the_crc(tmp_path, checkpoint_bytes):
    path = tmp_path / "best.pt"
    data = bytearray(checkpoint_bytes)
    tensor = torch.randn(8, 8, generator=torch.Generator().manual_seed(0)).numpy().tobytes()
    at = data.index(tensor[:16])  # the stored bytes of model.w
    data[at + 5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="fails its CRC check"):
        load_checkpoint(path)


@pytest.mark.parametrize("key, value", [("recipe", 12), ("step", "7"), ("model", [1, 2]), ("epoch", True)])
def test_checkpoint__a_key_of_the_wrong_type_is_refused(tmp_path, key, value):
    ck = small_checkpoint()
    ck[key] = value
    atomic_save(ck, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match=f"wrong type of {key}"):
        load_checkpoint(tmp_path / "x.pt")


def test_checkpoint__a_file_that_would_run_code_names_the_global_not_torch_advice(tmp_path):
    import os

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"format": FORMAT, "x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "evil.pt")
    msg = str(err.value)
    assert "would run code" in msg and "system" in msg and "will likely succeed" not in msg and "\n" not in msg


@pytest.fixture(scope="module")
def legacy_dir(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("legacy") / "data")


@HYP
@given(how=corruption(size=4000))
def test_dataset_tensor__any_damage_is_one_line_naming_the_file_or_changes_nothing(tmp_path, legacy_dir, how):
    name = "question_embs"
    original = legacy_dir / f"{name}.pt"
    path = tmp_path / original.name
    shutil.copy(original, path)
    size = path.stat().st_size
    damage(path, (how[0], tuple(a % size if isinstance(a, int) else a for a in how[1])))
    try:
        value = load_pt(path, name)
    except DatasetError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc) and "would run code" not in str(exc)
        return
    assert torch.equal(value, load_pt(original, name))


@pytest.mark.slow
@HYP
@given(how=corruption(size=400))
def test_dataset_config__damage_is_one_line_or_still_a_json_object(tmp_path, legacy_dir, how):
    path = tmp_path / "config.json"
    shutil.copy(legacy_dir / "config.json", path)
    size = path.stat().st_size
    damage(path, (how[0], tuple(a % size if isinstance(a, int) else a for a in how[1])))
    try:
        meta = read_json(path, "dataset config")
    except DatasetError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        return
    assert isinstance(meta, dict)  # JSON has no checksum: a flip that keeps it valid JSON is not detected


@pytest.fixture(scope="module")
def native_dir(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("native") / "data", fmt="native")


@HYP
@given(how=corruption(size=60_000))
def test_native_dataset__any_change_of_the_tensor_file_is_refused(tmp_path, native_dir, how):
    root = tmp_path / "data"
    shutil.copytree(native_dir, root, dirs_exist_ok=True)
    path = root / "tensors.safetensors"
    size = path.stat().st_size
    if not damage(path, (how[0], tuple(a % size if isinstance(a, int) else a for a in how[1]))):
        return
    with pytest.raises(DatasetError) as err:
        read_native(root, read_json(root / "meta.json", "dataset metadata"))
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_eval_json__damaged_is_one_line_saying_how_to_write_it_again(tmp_path):
    run = RunDir(tmp_path)
    assert run.read_eval() is None
    run.eval_file().write_bytes(b'{"model": {"zero": {"mrr": 0.4')
    with pytest.raises(JasperError, match=r"eval\.json: damaged .*--resume auto"):
        run.read_eval()
    run.eval_file("test").write_text(json.dumps([1, 2]))
    with pytest.raises(JasperError, match=r"eval-test\.json: damaged \(not a JSON object\)"):
        run.read_eval("test")


@pytest.fixture(scope="module")
def legacy_read(legacy_dir):
    from jasper_plugins.data.readers import read_dataset_dir

    return read_dataset_dir(legacy_dir)


@pytest.mark.parametrize("texts, meta_names, message", [
    ({"questions": ["q"] * 3}, None, r"texts\.json: texts 'questions' must be a list of 120 strings .* got 3 entries"),
    ({"sources": "all of them"}, None, r"texts 'sources' must be a list of 120 strings .* got str"),
    ({"clusters": ["a", 2, "c", "d"]}, None, r"texts 'clusters' must be a list of 4 strings"),
    ([1, 2], None, r"texts\.json: texts must be a JSON object"),
    (None, ["a", "b"], r"config\.json: 'cluster_names' must be a list of 4 strings"),
])
def test_dataset_texts__that_do_not_match_the_tensors_are_refused_at_load(legacy_read, legacy_dir, texts, meta_names, message):
    from jasper_plugins.data.validate import check_texts

    tensors, meta, _, _ = legacy_read
    where, meta_file = legacy_dir / "texts.json", legacy_dir / "config.json"
    with pytest.raises(DatasetError, match=message):
        check_texts(texts, {**meta, "cluster_names": meta_names} if meta_names else meta, tensors, where, meta_file)


@pytest.mark.slow
def test_data_commands__non_utf8_input_and_an_existing_output_are_one_line(tmp_path, legacy_dir, capsys):
    from hostile import one_line
    from jasper_core.cli.main import main

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_bytes(b'{"question": "q", "source": "s\xff", "cluster": "c"}\n')
    assert main(["data", "build", str(pairs), "--out", str(tmp_path / "out")]) == 1
    assert one_line(capsys.readouterr().err) == f"error: {pairs}: not UTF-8 text (byte 30); save it as UTF-8"
    assert main(["data", "convert", str(legacy_dir), "--out", str(legacy_dir)]) == 1
    assert "already holds a dataset" in one_line(capsys.readouterr().err)


def test_dataset__unsigned_indices_are_refused_by_dtype_not_misreported(legacy_read, legacy_dir):
    from jasper_plugins.data.validate import validate

    tensors = {**legacy_read[0], "pair_keyword_ids": legacy_read[0]["pair_keyword_ids"].to(torch.uint8)}
    with pytest.raises(DatasetError, match=r"pair_keyword_ids\.pt: tensor 'pair_keyword_ids' must have a signed integer dtype \(int64\), got torch.uint8"):
        validate(tensors, legacy_dir, "legacy")
