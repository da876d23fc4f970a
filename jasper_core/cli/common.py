"""Helpers shared by the CLI commands."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.markup import escape

from jasper_core.console import make_console

from jasper_core.plugin_manager import Plugins, load_plugins
from jasper_core.recipe.overrides import set_override

stdout = make_console()
stderr = make_console(stderr=True)


def get_plugins(args: argparse.Namespace) -> Plugins:
    plugins = load_plugins(strict=True if getattr(args, "strict_plugins", False) else None)
    for failure in plugins.failures:
        stderr.print(f"[yellow]warning:[/] {escape(str(failure))} (skipped)", markup=True, highlight=False)
    return plugins


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="a recipe file, or the name of a built-in recipe (e.g. quickstart)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                        help="override a recipe value, e.g. --set optim.lr=1e-3 (repeatable)")
    parser.add_argument("--data", metavar="DIR", help="train on this dataset directory (sets data.path)")


def recipe_overrides(args: argparse.Namespace) -> list[str]:
    overrides = list(args.overrides)
    if getattr(args, "data", None):
        overrides.append(set_override("data.path", args.data))
    return overrides


def print_error(exc: BaseException) -> None:
    sys.stderr.write(f"error: {exc}\n" if "\n" not in str(exc) else f"{exc}\n")


def os_error_line(exc: OSError) -> str:
    """``PATH: what the operating system said`` (both paths of a rename or copy)."""
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' -> '.join(paths) or 'a file'}: {exc.strerror or type(exc).__name__}"


def jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value
