"""The native format's tensor file (safetensors layout): memory-mapped on read, streamed on write.

Read: each tensor is a zero-copy view of a private (copy-on-write) mapping of the file; pages come
from disk when a batch touches them and the OS may drop them again, so a dataset larger than RAM
trains on CPU. Write: the header first, then each tensor's bytes, whole or in row chunks, so a
dataset never has to be whole in memory. Files are standard safetensors (readable by
``safetensors.torch.load_file``): an 8-byte little-endian header length, a JSON header of
``{name: {dtype, shape, data_offsets}}``, the data.
"""

from __future__ import annotations

import json
import math
import mmap
from pathlib import Path

import torch

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}
CODES = {v: k for k, v in DTYPES.items()}


def read_mmap(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file as a view of one private memory mapping (nothing is copied).

    Raises:
        ValueError: the file is not a well-formed safetensors file.
        OSError: it cannot be opened.
    """
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        if size < 8:
            raise ValueError(f"{size} bytes is too short for a safetensors file")
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)  # private: writes never reach the file
    n = int.from_bytes(mm[:8], "little")
    if 8 + n > size:
        raise ValueError(f"header length {n} runs past the end of the file ({size} bytes)")
    try:
        header = json.loads(bytes(mm[8 : 8 + n]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"unreadable header: {exc}") from None
    base, out = 8 + n, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = DTYPES[info["dtype"]], tuple(info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"tensor {name!r}: malformed header entry {info!r}") from None
        count = math.prod(shape)
        if end - start != count * dtype.itemsize or base + end > size:
            raise ValueError(f"tensor {name!r}: its bytes [{start}, {end}) do not fit its shape {list(shape)} or the file")
        out[name] = (torch.frombuffer(mm, dtype=dtype, count=count, offset=base + start).reshape(shape) if count
                     else torch.empty(shape, dtype=dtype))
    return out


class NativeWriter:
    """Write a safetensors file tensor by tensor, each whole or in consecutive row chunks.

    Args:
        path: the file to create.
        specs: ``{name: (dtype, shape)}`` of every tensor the file will hold.

    ``write(name, rows)`` appends ``rows`` (``[n, ...]``, cast to the tensor's dtype) after what was
    written of ``name`` so far; :meth:`close` checks every tensor was written in full.
    """

    def __init__(self, path: Path, specs: dict[str, tuple[torch.dtype, tuple[int, ...]]]) -> None:
        order = sorted(specs, key=lambda k: -specs[k][0].itemsize)  # larger elements first: every tensor aligned
        header, offset, self.where = {}, 0, {}
        for name in order:
            dtype, shape = specs[name]
            nbytes = math.prod(shape) * dtype.itemsize
            header[name] = {"dtype": CODES[dtype], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
            self.where[name] = [offset, offset, offset + nbytes, dtype]  # start, next write, end, dtype
            offset += nbytes
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        self.base = 8 + len(text)
        self.fh = open(path, "wb")
        self.fh.write(len(text).to_bytes(8, "little") + text)
        self.fh.truncate(self.base + offset)

    def write(self, name: str, rows: torch.Tensor) -> None:
        start, at, end, dtype = self.where[name]
        data = rows.detach().to("cpu", dtype).contiguous()
        raw = data.view(torch.int16) if dtype == torch.bfloat16 else data  # numpy has no bfloat16
        if at + data.numel() * dtype.itemsize > end:
            raise ValueError(f"tensor {name!r}: more rows written than its shape holds")
        if data.numel():
            self.fh.seek(self.base + at)
            self.fh.write(memoryview(raw.numpy().reshape(-1)).cast("B"))
        self.where[name][1] = at + data.numel() * dtype.itemsize

    def close(self) -> None:
        self.fh.close()
        short = [name for name, (_, at, end, _) in self.where.items() if at != end]
        if short:
            raise ValueError(f"tensor(s) {', '.join(short)} not written in full")

    def __enter__(self) -> "NativeWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.fh.close()


def write_native(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write ``tensors`` whole into one safetensors file."""
    with NativeWriter(path, {n: (t.dtype, tuple(t.shape)) for n, t in tensors.items()}) as writer:
        for name, t in tensors.items():
            writer.write(name, t)
