"""'Did you mean' suggestions for misspelt names and keys."""

from __future__ import annotations

import difflib
from typing import Iterable


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate closest to ``name``, or None when nothing is reasonably close."""
    matches = difflib.get_close_matches(str(name), sorted(set(candidates)), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``'; did you mean "x"?'`` or an empty string."""
    best = closest(name, candidates)
    return f'; did you mean "{best}"?' if best else ""
