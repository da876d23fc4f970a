"""The checkpoint file format: versioned, written atomically, loaded only with ``weights_only=True``.

Every torch file jasper reads (checkpoints, dataset tensors) goes through :func:`safe_load`: the
archive's CRC-32 of each member is checked first (``torch.load`` does not, so a flipped byte in a
tensor would load as a silently different number), then the restricted unpickler runs. Every file
jasper writes goes through :func:`atomic_write`: a temporary file in the same directory, fsync,
rename — a kill or a full disk leaves the previous file whole. What a checkpoint holds, and where
it lives in a run directory, is :mod:`.run_dir`'s business.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Callable

import torch

from jasper_core.errors import CheckpointError, WriteError, first_line

FORMAT = "jasper-checkpoint"
VERSION = 2  # 2: [target_space] and nested [model.router]; routers and models take a StepState
#: key -> the type it must have (a tampered file is refused before anything reads it)
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "format": str, "version": int, "model": dict, "target": dict, "optimizer": dict, "step": int, "epoch": int,
    "recipe": str,
}
_HINTS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded", errno.EFBIG: "the file-size limit is reached",
          errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied", errno.EPERM: "permission denied"}


class UnreadableFile(Exception):
    """A torch file :func:`safe_load` refused; ``reason`` is one phrase, ``runs_code`` when the unpickler
    met an object that would run code (as opposed to a damaged file)."""

    def __init__(self, reason: str, runs_code: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.runs_code = reason, runs_code


def os_reason(exc: OSError) -> str:
    """What the operating system said, in words a user acts on (``the disk is full``)."""
    return _HINTS.get(exc.errno or -1) or exc.strerror or type(exc).__name__


def write_failure(path: Path, exc: OSError) -> WriteError:
    """One line naming ``path`` and what the operating system said."""
    return WriteError(f"{path}: cannot write ({os_reason(exc)}); nothing there was changed")


class _Sink:
    """A file wrapper that remembers the ``OSError`` of a failed write (torch re-raises it as a
    RuntimeError without the errno, e.g. ``enforce fail at inline_container.cc``)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.error = fh, None

    def write(self, data: bytes) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Call ``write(file)`` on a temporary file in ``path``'s directory, fsync, then rename over ``path``.

    The file gets the permissions an ordinary new file would (``0666`` less the umask), not the
    ``0600`` of a temporary file, so a serving process under another user can read it.

    Raises:
        WriteError: the directory or the file cannot be written (full disk, read-only, a file
            where a directory should be, ...): one line naming ``path``; the old file is intact.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            sink = _Sink(fh)
            try:
                write(sink)
            except RuntimeError:
                if sink.error is not None:
                    raise sink.error from None
                raise
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise write_failure(path, exc) from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp: str | None) -> None:
    if tmp is not None:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


#: the key under which :func:`atomic_save` stores a dict's :func:`content_crc` (removed again on load)
CONTENT_CRC = "_content_crc32"


def content_crc(obj: Any) -> int:
    """CRC-32 of a nested dict / list / tuple of tensors and plain values: keys, dtypes, shapes and
    every tensor's bytes. The archive's own CRCs cover the members' bytes, not where a reader finds
    them: a damaged directory entry can make ``torch.load`` read a tensor from the wrong place."""
    crc = 0

    def walk(x: Any) -> None:
        nonlocal crc
        if isinstance(x, dict):
            for k in sorted(x, key=repr):
                crc = zlib.crc32(repr(k).encode(), crc)
                walk(x[k])
        elif isinstance(x, (list, tuple)):
            for item in x:
                walk(item)
        elif torch.is_tensor(x):
            t = x.detach().cpu().contiguous()
            crc = zlib.crc32(f"{t.dtype}{tuple(t.shape)}".encode(), crc)
            crc = zlib.crc32(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"", crc)
        else:
            crc = zlib.crc32(repr(x).encode(), crc)

    walk(obj)
    return crc


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` through :func:`atomic_write`; a dict gets its :func:`content_crc`, checked by
    :func:`safe_load`."""
    if isinstance(obj, dict):
        obj = {**obj, CONTENT_CRC: content_crc(obj)}
    atomic_write(path, lambda fh: torch.save(obj, fh))


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` through :func:`atomic_write`."""
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def safe_load(path: Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)`` of a torch file, after checking a zip archive's CRCs.

    Raises:
        UnreadableFile: damaged (not a torch archive, truncated, a CRC mismatch) or refused by the
            safe unpickler (``runs_code``).
    """
    try:  # a file that is not a zip archive is left to torch (the pre-1.6 format has no checksums)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                raise UnreadableFile(f"its member {bad!r} fails its CRC check")  # repr: a damaged name may hold a newline
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        # RuntimeError: a damaged flag byte can mark a member "encrypted" (zipfile asks for a password)
        raise UnreadableFile(f"not a readable torch archive ({first_line(exc)})") from None
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines()]
        culprit = next((line for line in lines if "GLOBAL" in line), None)
        if culprit is not None:
            raise UnreadableFile(f"it holds objects that would run code when loaded ({culprit})", runs_code=True) from None
        raise UnreadableFile("its contents cannot be unpickled as plain tensors") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
        raise UnreadableFile(f"torch cannot read it ({first_line(exc)})") from None
    if isinstance(data, dict) and CONTENT_CRC in data:
        want = data.pop(CONTENT_CRC)
        if want != content_crc(data):
            raise UnreadableFile("its contents do not match the checksum written with them")
    return data


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint.

    Raises:
        CheckpointError: missing, truncated or damaged, not a jasper checkpoint, an unknown version,
            a key missing or of the wrong type, or refused by the safe loader (it would run code).
            The message is one line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        data = safe_load(path, map_location)
    except UnreadableFile as exc:
        if exc.runs_code:
            raise CheckpointError(f"{path}: refused: {exc.reason}; jasper never loads such a file") from None
        raise CheckpointError(f"{path}: cannot read checkpoint, the file is truncated or damaged: {exc.reason}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a jasper checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {data.get('version')!r} is not supported (this jasper reads version {VERSION})")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint is missing {', '.join(missing)}")
    wrong = [f"{k} ({type(data[k]).__name__})" for k, t in REQUIRED.items() if not isinstance(data[k], t) or isinstance(data[k], bool)]
    if wrong:
        raise CheckpointError(f"{path}: checkpoint is damaged or tampered with: wrong type of {', '.join(wrong)}")
    return data
