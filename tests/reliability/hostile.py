"""Helpers of the hostile-input suite: byte corruption as a hypothesis strategy, file snapshots."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hypothesis import strategies as st


@st.composite
def corruption(draw, size: int) -> tuple[str, tuple]:
    """One way to damage a file of ``size`` bytes: ``("flip", positions)``, ``("truncate", (n,))``,
    ``("overwrite", (start, junk))``, ``("append", (junk,))`` or ``("empty", ())``."""
    kind = draw(st.sampled_from(["flip", "truncate", "overwrite", "append", "empty"]))
    if kind == "flip":
        return kind, tuple(draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=4, unique=True)))
    if kind == "truncate":
        return kind, (draw(st.integers(0, size - 1)),)
    if kind == "overwrite":
        start = draw(st.integers(0, size - 1))
        return kind, (start, draw(st.binary(min_size=1, max_size=64)))
    if kind == "append":
        return kind, (draw(st.binary(min_size=1, max_size=64)),)
    return kind, ()


def damage(path: Path, how: tuple[str, tuple]) -> bool:
    """Apply a :func:`corruption` to ``path``; returns whether the bytes changed."""
    data = bytearray(path.read_bytes())
    kind, args = how
    if kind == "flip":
        for i in args:
            data[i] ^= 0xFF
    elif kind == "truncate":
        data = data[: args[0]]
    elif kind == "overwrite":
        start, junk = args
        data[start: start + len(junk)] = junk
    elif kind == "append":
        data += args[0]
    else:
        data = bytearray()
    changed = bytes(data) != path.read_bytes()
    path.write_bytes(bytes(data))
    return changed


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def one_line(text: str) -> str:
    """The single non-warning line of ``text`` (asserts there is exactly one)."""
    lines = [line for line in text.strip().splitlines() if line.strip() and not line.startswith("warning")]
    assert len(lines) == 1, lines
    return lines[0]
