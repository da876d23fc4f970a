"""Rich consoles for jasper's human-readable output, and the CLI's logging set-up.

On a terminal rich wraps to the terminal's width. Elsewhere (a CI log, a file, a pipe) it would
hard-wrap at 80 columns and cut table headers and values; there the console is made wide instead,
so every line comes out whole.

jasper's messages go through :mod:`logging` under the ``jasper`` logger (``jasper.inference``,
``jasper.cli``, ...), so a library user quiets or redirects them with the standard configuration;
jasper itself adds no handler. The CLI calls :func:`setup_logging`: rich on a terminal, plain
unwrapped lines otherwise.
"""

from __future__ import annotations

import logging
import sys

from rich.console import Console

#: Width used when the output is not a terminal.
UNWRAPPED_WIDTH = 240
#: ``-q`` → warnings only, default → info, ``-v`` → debug.
LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}


def make_console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that never hard-wraps when the output is not a terminal."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console.width = UNWRAPPED_WIDTH
    return console


class PlainFormatter(logging.Formatter):
    """One unwrapped line per message; warnings and errors start with their level (``warning: ...``)."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


def setup_logging(verbosity: int = 0) -> logging.Handler:
    """Send the ``jasper`` loggers to stderr at the level of ``verbosity`` (-1 quiet, 0 normal, 1 verbose).

    Replaces the handler a previous call added (so tests and repeated ``main`` calls do not stack them).
    Returns the handler.
    """
    logger = logging.getLogger("jasper")
    for old in [h for h in logger.handlers if getattr(h, "jasper_cli", False)]:
        logger.removeHandler(old)
    console = make_console(stderr=True)
    if console.is_terminal:
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=console, show_time=False, show_path=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(PlainFormatter("%(message)s"))
    handler.jasper_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(LEVELS[max(-1, min(1, verbosity))])
    return handler
