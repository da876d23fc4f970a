"""The native tensor file: memory-mapped reads, streamed writes, standard safetensors."""

import pytest
import torch
from safetensors.torch import load_file

from jasper_plugins.data.native import NativeWriter, read_mmap, write_native
from jasper_plugins.data.validate import first_nonfinite_row


def test_native__round_trip_is_standard_safetensors_and_memory_mapped(tmp_path):
    tensors = {"a": torch.randn(5, 3).half(), "b": torch.arange(7), "c": torch.randn(2, 2).bfloat16(),
               "empty": torch.zeros(0, 4), "flag": torch.tensor([True, False])}
    path = tmp_path / "t.safetensors"
    write_native(path, tensors)
    for read in (read_mmap(path), load_file(str(path))):
        assert read.keys() == tensors.keys() and all(torch.equal(read[k], v) for k, v in tensors.items())
    mapped = read_mmap(path)["a"]
    mapped[0, 0] = 99.0  # a private mapping: the file is never written through a tensor
    assert float(read_mmap(path)["a"][0, 0]) == float(tensors["a"][0, 0])


def test_native_writer__row_chunks_and_incomplete_tensors(tmp_path):
    full = torch.randn(10, 4)
    with NativeWriter(tmp_path / "c.safetensors", {"x": (torch.float16, (10, 4))}) as writer:
        for start in range(0, 10, 3):
            writer.write("x", full[start : start + 3])
        with pytest.raises(ValueError, match="more rows"):
            writer.write("x", full[:1])
    assert torch.equal(read_mmap(tmp_path / "c.safetensors")["x"], full.half())
    writer = NativeWriter(tmp_path / "d.safetensors", {"x": (torch.float32, (10, 4))})
    writer.write("x", full[:3])
    with pytest.raises(ValueError, match="not written in full"):
        writer.close()


def test_read_mmap__malformed_files(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x01")
    with pytest.raises(ValueError, match="too short"):
        read_mmap(path)
    path.write_bytes((1000).to_bytes(8, "little") + b"{}")
    with pytest.raises(ValueError, match="runs past"):
        read_mmap(path)
    header = b'{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}'
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    with pytest.raises(ValueError, match="do not fit"):
        read_mmap(path)
    header = b'{"x":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}'
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(4))
    with pytest.raises(ValueError, match="malformed header"):
        read_mmap(path)


def test_first_nonfinite_row__scans_in_chunks():
    t = torch.zeros(10, 3)
    assert first_nonfinite_row(t, chunk=4) is None
    t[6, 2] = float("inf")
    assert first_nonfinite_row(t, chunk=4) == 6
    assert first_nonfinite_row(torch.tensor(float("nan"))) == 0 and first_nonfinite_row(torch.tensor(1.0)) is None
