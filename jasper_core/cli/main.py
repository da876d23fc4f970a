"""``jasper``: train and evaluate JASPER retrieval predictors from TOML recipes."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from jasper_core.cli import check_cmd, eval_cmd, export_cmd, plugins_cmd, search_cmd, train_cmd
from jasper_core.cli.common import get_plugins, os_error_line, print_error
from jasper_core.console import setup_logging
from jasper_core.errors import JasperError, RecipeError


def build_parser(plugins=None) -> argparse.ArgumentParser:
    from jasper_core import __version__

    parser = argparse.ArgumentParser(prog="jasper", description=__doc__.splitlines()[0].split(": ", 1)[-1])
    parser.add_argument("--version", action="version", version=f"jasper {__version__}")
    parser.add_argument("--strict-plugins", action="store_true", help="fail when any plugin fails to load")
    add_verbosity(parser, 0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (plugins_cmd, check_cmd, train_cmd, eval_cmd, export_cmd, search_cmd):
        module.add_parser(sub)
    if plugins is not None:
        add_plugin_commands(plugins, sub)
    _verbosity_everywhere(parser)
    return parser


def add_verbosity(parser: argparse.ArgumentParser, default) -> None:
    """``-q/--quiet`` and ``-v/--verbose`` (both count into ``verbosity``); skipped where a command has its own."""
    if {"-q", "--quiet", "-v", "--verbose"} & set(parser._option_string_actions):
        return
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=default,
                       help="warnings and errors only (third-party progress bars off)")
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1, default=default,
                       help="debug messages too")


def _verbosity_everywhere(parser: argparse.ArgumentParser) -> None:
    """Every (sub)command takes -q/-v after its name too; the top level's value stands unless given there."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                add_verbosity(child, argparse.SUPPRESS)
                _verbosity_everywhere(child)


def add_plugin_commands(plugins, sub) -> None:
    """Let each plugin add its commands; one that raises (or takes a name already used) is reported
    in one warning line and skipped, and every other command keeps working."""
    for impl in reversed(plugins.hook.jasper_add_commands.get_hookimpls()):
        try:
            impl.function(subparsers=sub)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin must not break the CLI
            first = (str(exc).strip().splitlines() or [""])[0]
            sys.stderr.write(f"warning: plugin {impl.plugin_name} failed to add its commands "
                             f"({type(exc).__name__}: {first}); skipped\n")


def entry() -> NoReturn:
    """The ``jasper`` command (and ``python -m jasper``): :func:`main`, then
    :func:`jasper_core.distributed.end_process` with its exit status (a rank of a gloo job ends
    without the interpreter's finalisation, which gloo's threads could abort)."""
    from jasper_core.distributed import end_process

    end_process(main())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    strict = "--strict-plugins" in argv
    try:
        plugins = get_plugins(argparse.Namespace(strict_plugins=strict))
    except JasperError as exc:
        print_error(exc)
        return 1
    parser = build_parser(plugins)
    args = parser.parse_args(argv)
    # a command with its own boolean --quiet (``data build``) is quiet for the log too
    setup_logging(-1 if getattr(args, "quiet", None) is True else args.verbosity)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args, plugins) or 0)
    except RecipeError as exc:
        print_error(exc)
        return 2
    except JasperError as exc:
        print_error(exc)
        return 1
    except OSError as exc:  # what no command turned into a JasperError: still one line naming the path
        print_error(os_error_line(exc))
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; the last checkpoint is intact (resume with --resume auto)\n")
        return 130
