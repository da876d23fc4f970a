"""Writing a directory all at once: into a temporary sibling, renamed into place at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

from jasper_core.errors import JasperError
from jasper_core.training.checkpoint import os_reason


def check_free(out: Path, hint: str) -> None:
    """Refuse an ``out`` that is a file or a non-empty directory (one line ending in ``hint``, nothing touched)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise JasperError(f"{out}: already exists and is not an empty directory; {hint}")


@contextlib.contextmanager
def atomic_directory(out: Path, what: str, hint: str) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``out``; when the block succeeds it becomes ``out``.

    ``out`` must be absent or an empty directory (checked before and after the block); a failure leaves
    nothing half-written. Raises JasperError naming ``what`` when the files cannot be written.
    """
    check_free(out, hint)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        yield tmp
        check_free(out, hint)  # still free after the work?
        if out.is_dir():
            out.rmdir()
        os.replace(tmp, out)
    except OSError as exc:
        raise JasperError(f"{out}: cannot write the {what} ({os_reason(exc)})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
