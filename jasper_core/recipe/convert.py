"""The cattrs converter for recipe leaf values, and the way back to plain TOML data.

Primitive hooks are strict: TOML is typed, so ``"3"`` is not an int and ``1`` is not a bool.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import attrs
import cattrs

converter = cattrs.Converter(forbid_extra_keys=True)


def _strict(tp: type, accept: tuple[type, ...], reject: tuple[type, ...] = ()):
    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, reject) or not isinstance(value, accept):
            raise TypeError(f"expected {tp.__name__}, got {value!r}")
        return tp(value)

    return hook


converter.register_structure_hook(int, _strict(int, (int,), (bool,)))
converter.register_structure_hook(float, _strict(float, (int, float), (bool,)))
converter.register_structure_hook(bool, _strict(bool, (bool,)))
converter.register_structure_hook(str, _strict(str, (str,)))


@functools.singledispatch
def unstructure_config(obj: Any) -> Any:
    """attrs instance / containers → plain TOML-ready data (None values dropped).

    Other modules register their own types (:class:`jasper_core.recipe.component.Component`).
    """
    if attrs.has(type(obj)):
        out = {}
        for f in attrs.fields(type(obj)):
            value = unstructure_config(getattr(obj, f.name))
            if value is not None:
                out[f.name] = value
        return out
    if isinstance(obj, (list, tuple)):
        return [unstructure_config(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: unstructure_config(v) for k, v in obj.items() if v is not None}
    return converter.unstructure(obj)
