"""``jasper``: train and evaluate JASPER retrieval predictors from TOML recipes."""

from __future__ import annotations

import argparse
import sys

from jasper_core.cli import check_cmd, eval_cmd, export_cmd, plugins_cmd, search_cmd, train_cmd
from jasper_core.cli.common import get_plugins, os_error_line, print_error
from jasper_core.errors import JasperError, RecipeError


def build_parser(plugins=None) -> argparse.ArgumentParser:
    from jasper_core import __version__

    parser = argparse.ArgumentParser(prog="jasper", description=__doc__.splitlines()[0].split(": ", 1)[-1])
    parser.add_argument("--version", action="version", version=f"jasper {__version__}")
    parser.add_argument("--strict-plugins", action="store_true", help="fail when any plugin fails to load")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (plugins_cmd, check_cmd, train_cmd, eval_cmd, export_cmd, search_cmd):
        module.add_parser(sub)
    if plugins is not None:
        add_plugin_commands(plugins, sub)
    return parser


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
