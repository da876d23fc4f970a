"""Command-line hooks: plugins may add ``jasper`` subcommands (``jasper data ...`` comes this way)."""

from __future__ import annotations

import argparse

from jasper_core.hookspecs.markers import hookspec


@hookspec
def jasper_add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add subcommands to the ``jasper`` CLI.

    Args:
        subparsers: ``subparsers.add_parser(name, help=...)``; set ``handler=fn`` with
            ``parser.set_defaults``, where ``fn(args, plugins) -> int`` returns the exit code.
            Raise :class:`jasper_core.JasperError` subclasses for user errors (printed without a
            traceback).
    """
