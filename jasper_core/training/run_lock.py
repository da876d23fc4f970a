"""The run directory's lock file: one writer at a time, a stale lock taken over.

``RUN_DIR/.lock`` is created exclusively (a hard link to a filled temporary file, so it is never
seen empty) and holds the writer's pid, host and start time. A lock is stale when its process is
gone (same host), or when the process now under that pid started after the lock was written (the
pid was reused, e.g. after a container restart); a stale lock is taken over. A lock of another host
is never taken over: jasper cannot tell whether it lives.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from jasper_core.errors import JasperError
from jasper_core.training.checkpoint import write_failure


@contextlib.contextmanager
def hold(lock_file: Path, *, owner: Path, on_taken: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Hold ``lock_file`` while the block runs; ``on_taken`` runs once it is held.

    Raises:
        JasperError: another live process (or another host) holds it; one line naming the holder.
        WriteError: the lock cannot be written (read-only directory, full disk).
    """
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
          "time": time.time()}
    for _ in range(2):
        try:
            taken = _create(lock_file, json.dumps(me))
        except OSError as exc:
            raise write_failure(lock_file, exc) from None
        if taken:
            break
        holder = live_holder(lock_file)
        if holder is not None:
            raise JasperError(f"{owner} is in use by pid {holder.get('pid')} on {holder.get('host')} since "
                              f"{holder.get('since')}; wait for it to finish or choose another --run-dir") from None
        lock_file.unlink(missing_ok=True)  # stale
    else:
        raise JasperError(f"{owner}: could not take the run-directory lock {lock_file}; try again")
    try:
        on_taken()
    except OSError as exc:
        lock_file.unlink(missing_ok=True)
        raise write_failure(lock_file, exc) from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(lock_file.read_text()).get("pid") == me["pid"]:
                lock_file.unlink()


def _create(lock_file: Path, text: str) -> bool:
    """Create ``lock_file`` holding ``text`` unless it exists (then False). The text is written to a
    temporary file first and hard-linked into place, so the lock never exists empty: a writer killed
    between creating the lock and filling it left an unreadable lock, taken for a live one for a
    minute. A file system without hard links gets the lock created with ``O_EXCL``, then filled.
    A killed writer's temporary file (``.lock.<pid>.tmp``) is removed by the run directory's next holder."""
    tmp = lock_file.with_name(f"{lock_file.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        try:
            os.link(tmp, lock_file)
            return True
        except (FileExistsError, FileNotFoundError):  # held; or the holder cleared our temporary file as it started
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
    finally:
        tmp.unlink(missing_ok=True)
    try:  # no hard links on this file system
        fd = os.open(lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return True


def live_holder(lock_file: Path) -> dict[str, Any] | None:
    """The live holder of ``lock_file``, or None when the lock is stale (or unreadable and old)."""
    try:
        holder = json.loads(lock_file.read_text())
    except (OSError, ValueError):  # being written right now, or damaged: stale once it is a minute old
        with contextlib.suppress(OSError):
            if time.time() - lock_file.stat().st_mtime < 60:
                return {"pid": "?", "host": "?", "since": "a moment ago"}
        return None
    if not isinstance(holder, dict):
        return None
    if holder.get("host") != socket.gethostname():
        return holder  # cannot tell whether it lives
    try:
        pid = int(holder.get("pid"))
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except (PermissionError, TypeError, ValueError, OverflowError):
        return holder  # alive under another user, or unreadable: treat as held
    if started_after(pid, holder.get("time")):
        return None  # that pid is now another process, started after the lock was written (ours, maybe)
    return holder


def started_after(pid: int, when: Any) -> bool:
    """True when process ``pid`` started after ``when`` (seconds since the epoch); False when unknown
    (no ``/proc``, no time in the lock)."""
    if not isinstance(when, (int, float)):
        return False
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK") > when + 1.0
    except (OSError, ValueError, IndexError, StopIteration):
        return False
