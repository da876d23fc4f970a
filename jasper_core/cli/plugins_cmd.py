"""``jasper plugins``: every registered component, its kind, plugin and config fields."""

from __future__ import annotations

import argparse
import json
from typing import Any

import attrs
from rich.table import Table

from jasper_core.cli.common import jsonable, stdout
from jasper_core.recipe.component import DEFAULT_KEY
from jasper_core.recipe.convert import unstructure_config


def config_fields(config: type | None) -> dict[str, Any]:
    """Field name → default (``"<required>"`` when there is none; a nested component's default table)."""
    if config is None:
        return {}
    attrs.resolve_types(config)
    out = {}
    for f in attrs.fields(config):
        if DEFAULT_KEY in f.metadata:
            out[f.name] = jsonable(f.metadata[DEFAULT_KEY])
        elif f.default is attrs.NOTHING:
            out[f.name] = "<required>"
        else:
            default = f.default.factory() if isinstance(f.default, attrs.Factory) else f.default
            out[f.name] = jsonable(unstructure_config(default))
    return out


def describe(plugins) -> list[dict[str, Any]]:
    return [{"kind": e.kind, "name": e.name, "plugin": e.plugin, "config": config_fields(e.config), "summary": e.summary}
            for e in plugins.registries.entries()]


def run(args: argparse.Namespace, plugins) -> int:
    rows = describe(plugins)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="jasper components", title_justify="left")
    for col in ("kind", "name", "plugin", "config (defaults)"):
        table.add_column(col, overflow="fold")
    for row in rows:
        fields = ", ".join(f"{k}={json.dumps(v)}" for k, v in row["config"].items()) or "—"
        table.add_row(row["kind"], row["name"], row["plugin"], fields)
    stdout.print(table)
    loaded = ", ".join(p.label + f" ({p.name})" for p in plugins.loaded)
    stdout.print(f"plugins loaded: {loaded}")
    for d in plugins.disabled:
        stdout.print(f"disabled: {d}")
    for f in plugins.failures:
        stdout.print(f"[red]failed:[/] {f}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("plugins", help="list every registered component and where it came from")
    p.add_argument("--json", action="store_true", help="print a JSON list of {kind, name, plugin, config}")
    p.set_defaults(handler=run)


__all__ = ["add_parser", "config_fields", "describe"]
