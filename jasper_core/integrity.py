"""File checksums: what jasper records beside a file it writes and checks when it reads it back."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path


def file_crc32(path: Path) -> str:
    """The CRC-32 of a file's bytes as 8 hex digits (read in 16 MiB chunks)."""
    crc = 0
    with Path(path).open("rb") as fh:
        while chunk := fh.read(1 << 24):
            crc = zlib.crc32(chunk, crc)
    return f"{crc:08x}"


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes as 64 hex digits (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()
