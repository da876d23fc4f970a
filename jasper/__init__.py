"""The public façade of jasper; the code lives in :mod:`jasper_core` and :mod:`jasper_plugins`.

``import jasper`` is cheap: torch and the plugins load on first use.

    model = jasper.load("models/q")            # a directory written by `jasper export`
    model.index(["passage ...", ...], ids=[...])
    model.search(["a question"], k=10, steering="cluster name")   # or jasper.Keywords("..."), or a vector
"""

from __future__ import annotations

from typing import Any

__all__ = ["JasperModel", "Keywords", "load"]


def load(path: Any, *, device: str = "cpu") -> Any:
    """Load a model directory written by ``jasper export`` as a :class:`jasper_core.inference.JasperModel`."""
    from jasper_core.inference import load as _load

    return _load(path, device=device)


def __getattr__(name: str) -> Any:
    if name in ("JasperModel", "Keywords"):
        import jasper_core.inference as inference

        return getattr(inference, name)
    raise AttributeError(f"module 'jasper' has no attribute {name!r}")
