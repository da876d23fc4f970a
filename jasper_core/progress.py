"""Progress of long work as log lines: ``encoding the corpus: 4096/100000 (4%), 12 s, ETA 4 min``.

Plain log records (no bar), so they read the same on a terminal, in a CI log or a file, and ``-q``
(or any logging configuration) silences them.
"""

from __future__ import annotations

import logging
import time


def duration(seconds: float) -> str:
    """``42 s``, ``3.5 min`` or ``1.2 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class Progress:
    """Logs ``what: done/total`` at most every ``every`` seconds, and once at the end.

    Args:
        logger: where the lines go (at INFO). what: the work's name. total: its size.
        every: seconds between two lines.
    """

    def __init__(self, logger: logging.Logger, what: str, total: int, every: float = 5.0) -> None:
        self.logger, self.what, self.total, self.every = logger, what, total, every
        self.start = self.last = time.perf_counter()

    def update(self, done: int) -> None:
        """Record that ``done`` of ``total`` are finished."""
        now = time.perf_counter()
        if done >= self.total:
            self.logger.info("%s: %d done in %s", self.what, self.total, duration(now - self.start))
        elif now - self.last >= self.every and done > 0:
            self.last = now
            eta = (now - self.start) / done * (self.total - done)
            self.logger.info("%s: %d/%d (%d%%), %s, ETA %s", self.what, done, self.total, 100 * done // self.total,
                             duration(now - self.start), duration(eta))
