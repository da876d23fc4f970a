"""Error types a user can meet. Each carries a message that says what is wrong and how to fix it."""

from __future__ import annotations

from typing import Iterable


class JasperError(Exception):
    """Base class for every error jasper raises on purpose (the CLI prints these without a traceback)."""


class RegistryError(JasperError, KeyError):
    """A component name is unknown or registered twice."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class PluginError(JasperError):
    """A plugin failed to import, register or validate its hooks (raised only in strict mode)."""


class Problem:
    """One recipe problem: a dotted path and a message."""

    __slots__ = ("path", "message")

    def __init__(self, path: str, message: str) -> None:
        self.path = path or "<recipe>"
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def __repr__(self) -> str:
        return f"Problem({self.path!r}, {self.message!r})"


class RecipeError(JasperError, ValueError):
    """Every problem found in a recipe, reported together.

    Attributes:
        source: where the recipe came from (a path or a recipe name).
        problems: the problems, each with its dotted path.
    """

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        n = len(self.problems)
        head = f"{self.source} has {n} problem{'s' if n != 1 else ''}:"
        lines = [head]
        for p in self.problems:
            first, *rest = str(p).splitlines() or [""]
            lines.append("  " + first)
            lines.extend("    " + r for r in rest)
        return "\n".join(lines)


class DatasetError(JasperError, ValueError):
    """A dataset is missing, malformed or inconsistent; the message names file, tensor and index."""


class CheckpointError(JasperError, ValueError):
    """A checkpoint is missing, truncated, of an unknown version, or refused by the safe loader."""


class NonFiniteLossError(JasperError, FloatingPointError):
    """A loss term became NaN or Inf and the recipe's policy is to stop."""


class WriteError(JasperError, OSError):
    """A file jasper writes could not be written (full disk, read-only place, ...); names the file."""

    def __str__(self) -> str:  # OSError would format (errno, strerror)
        return str(self.args[0]) if self.args else ""


class PluginOutputError(JasperError, TypeError):
    """A model, loss or schedule plugin returned something outside its contract; names the plugin."""


def first_line(exc: BaseException) -> str:
    """An exception's first line (its type name when it has no text), at most 200 characters."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
