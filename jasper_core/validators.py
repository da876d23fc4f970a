"""attrs validators whose messages carry the field name and the offending value.

The default attrs/cattrs messages ("invalid value @ loss[1]") lose the field; these do not, and
the recipe loader runs each field's validator on its own so every bad field is reported.

Example:
    >>> @attrs.frozen(kw_only=True)
    ... class Cfg:
    ...     temperature: float = attrs.field(default=0.07, validator=positive)
"""

from __future__ import annotations

import math
import re
from pathlib import PurePosixPath
from typing import Any, Iterable

#: what the top of a run directory holds for the run itself (jasper_core.training.run_dir owns the layout);
#: a logger's file or folder may be anything else inside the run directory
RUN_DIR_RESERVED = ("recipe.toml", "checkpoints", ".lock")
_RUN_EVAL_FILE = re.compile(r"eval(-[^/]*)?\.json")


def _finite(attribute, value) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value}")


def positive(instance: Any, attribute: Any, value: float) -> None:
    """Require ``value > 0``."""
    _finite(attribute, value)
    if not value > 0:
        raise ValueError(f"must be > 0, got {value}")


def non_negative(instance: Any, attribute: Any, value: float) -> None:
    """Require ``value >= 0``."""
    _finite(attribute, value)
    if not value >= 0:
        raise ValueError(f"must be >= 0, got {value}")


def probability(instance: Any, attribute: Any, value: float) -> None:
    """Require ``0 <= value <= 1``."""
    _finite(attribute, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {value}")


def unit_interval_right_open(instance: Any, attribute: Any, value: float) -> None:
    """Require ``0 <= value < 1`` (Adam's betas)."""
    _finite(attribute, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"must be at least 0 and below 1, got {value}")


def open_unit(instance: Any, attribute: Any, value: float) -> None:
    """Require ``0 < value < 1`` (e.g. an EMA decay or a dropout that must not be total)."""
    _finite(attribute, value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"must be strictly between 0 and 1, got {value}")


def at_least(bound: float):
    """Return a validator requiring ``value >= bound``."""

    def check(instance: Any, attribute: Any, value: float) -> None:
        _finite(attribute, value)
        if not value >= bound:
            raise ValueError(f"must be >= {bound}, got {value}")

    return check


def one_of(choices: Iterable[str]):
    """Return a validator requiring ``value`` to be one of ``choices`` (with a did-you-mean)."""
    allowed = tuple(choices)

    def check(instance: Any, attribute: Any, value: str) -> None:
        if value not in allowed:
            from jasper_core.suggest import did_you_mean

            raise ValueError(
                f'must be one of {", ".join(map(repr, allowed))}, got {value!r}'
                + did_you_mean(str(value), allowed)
            )

    return check


def each(validator):
    """Apply ``validator`` to every element of a sequence."""

    def check(instance: Any, attribute: Any, values) -> None:
        for i, v in enumerate(values):
            try:
                validator(instance, attribute, v)
            except ValueError as exc:
                raise ValueError(f"element [{i}] {exc}") from None

    return check


def non_empty(instance: Any, attribute: Any, value) -> None:
    """Require a non-empty sequence or string."""
    if len(value) == 0:
        raise ValueError("must not be empty")


def non_utf8_strings(data: Any, path: str = "") -> list[tuple[str, str]]:
    """``(dotted path, value)`` of every string in nested recipe data that cannot be written as UTF-8
    (a non-UTF-8 file name arrives as lone surrogates); a recipe is stored as UTF-8 TOML."""
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            return [(path, data)]
        return []
    if isinstance(data, dict):
        return [hit for k, v in data.items() for hit in non_utf8_strings(v, f"{path}.{k}" if path else str(k))]
    if isinstance(data, (list, tuple)):
        return [hit for i, v in enumerate(data) for hit in non_utf8_strings(v, f"{path}[{i}]")]
    return []


def run_file(instance: Any, attribute: Any, value: str) -> None:
    """Require a relative path inside the run directory that is none of the run's own files (its
    recipe, checkpoints, lock, ``eval*.json``), for a logger's file or folder name."""
    parts = PurePosixPath(value.replace("\\", "/")).parts
    if not value.strip() or value.startswith(("/", "\\", "~")) or ".." in parts or re.match(r"[A-Za-z]:", value):
        raise ValueError(f"must be a relative path inside the run directory, got {value!r}")
    if parts[0] in RUN_DIR_RESERVED or _RUN_EVAL_FILE.fullmatch(parts[0]) or parts[0] == ".":
        raise ValueError(f"{value!r} is the run's own (recipe.toml, checkpoints/, .lock, eval*.json); choose another name")
