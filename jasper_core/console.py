"""Rich consoles for jasper's human-readable output.

On a terminal rich wraps to the terminal's width. Elsewhere (a CI log, a file, a pipe) it would
hard-wrap at 80 columns and cut table headers and values; there the console is made wide instead,
so every line comes out whole.
"""

from __future__ import annotations

from rich.console import Console

#: Width used when the output is not a terminal.
UNWRAPPED_WIDTH = 240


def make_console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that never hard-wraps when the output is not a terminal."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console.width = UNWRAPPED_WIDTH
    return console
