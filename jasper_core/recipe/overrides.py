"""``--set path=value`` overrides applied to the raw TOML data before validation."""

from __future__ import annotations

import re
import sys
from typing import Any

from jasper_core.errors import Problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_@-]*)|\[(\d+)\]")


def parse_path(path: str) -> list[str | int] | None:
    """``"loss[1].weight"`` → ``["loss", 1, "weight"]``; None when malformed."""
    tokens: list[str | int] = []
    for part in path.split("."):
        pos = 0
        if not part:
            return None
        while pos < len(part):
            m = _TOKEN.match(part, pos)
            if not m or (m.group(1) and pos != 0):
                return None
            tokens.append(m.group(1) if m.group(1) else int(m.group(2)))
            pos = m.end()
    return tokens or None


def parse_value(text: str) -> Any:
    """A TOML value (``1e-3``, ``true``, ``[1, 5]``, ``"x"``); anything else is taken as a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_override(path: str, value: str) -> str:
    """The ``--set`` text that sets ``path`` to the string ``value`` (quoted and escaped as TOML)."""
    escaped = "".join(f"\\{c}" if c in '"\\' else c if c >= " " and c != "\x7f" else f"\\u{ord(c):04x}" for c in value)
    return f'{path}="{escaped}"'


def apply_overrides(data: dict[str, Any], overrides: list[str], problems: list[Problem]) -> None:
    """Apply each ``path=value`` to ``data`` in place; malformed ones become problems."""
    for item in overrides:
        where = f"--set {item}"
        if "=" not in item:
            problems.append(Problem(where, "expected path=value, e.g. --set optim.lr=1e-3"))
            continue
        path_text, value_text = item.split("=", 1)
        tokens = parse_path(path_text.strip())
        if tokens is None or not isinstance(tokens[0], str):
            problems.append(Problem(where, f"cannot read the path {path_text!r}; write it like loss[1].weight"))
            continue
        node: Any = data
        ok = True
        for i, token in enumerate(tokens[:-1]):
            nxt = tokens[i + 1]
            if isinstance(token, int):
                if not isinstance(node, list) or token >= len(node):
                    problems.append(Problem(where, f"{path_text}: index [{token}] is out of range"))
                    ok = False
                    break
                node = node[token]
            else:
                if not isinstance(node, dict):
                    problems.append(Problem(where, f"{path_text}: {token!r} is not inside a table"))
                    ok = False
                    break
                node = node.setdefault(token, [] if isinstance(nxt, int) else {})
        if not ok:
            continue
        last = tokens[-1]
        value = parse_value(value_text.strip())
        if isinstance(last, int):
            if not isinstance(node, list) or last >= len(node):
                problems.append(Problem(where, f"{path_text}: index [{last}] is out of range"))
                continue
            node[last] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            problems.append(Problem(where, f"{path_text}: {last!r} is not inside a table"))
