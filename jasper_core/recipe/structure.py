"""Structure plain TOML data into attrs classes, collecting every problem with its dotted path.

cattrs converts the leaf values (with strict primitive hooks: TOML is typed, so ``"3"`` is not an
int and ``1`` is not a bool); the walk over fields is ours so that each problem carries its path,
every field's validator runs on its own, and unknown keys get a did-you-mean.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Mapping

import attrs

from jasper_core.errors import Problem
from jasper_core.recipe.component import DEFAULT_KEY, ENVELOPE_KEY, KIND_KEY, Component
from jasper_core.recipe.convert import converter
from jasper_core.suggest import did_you_mean



def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        args = typing.get_args(tp)
        inner = type_name(args[0]) if args else "value"
        return f"list of {inner}"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp) if a is not type(None))
    return getattr(tp, "__name__", str(tp))


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def structure_value(value: Any, tp: Any, path: str, problems: list[Problem], suffix: str = "") -> Any:
    """Structure one leaf value; on failure add a problem and return None."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value in allowed and type(value) in {type(a) for a in allowed}:
            return value
        problems.append(Problem(path, f"must be one of {', '.join(map(repr, allowed))}, got {_describe(value)}"
                                + did_you_mean(str(value), map(str, allowed)) + suffix))
        return None
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        for arg in args:
            scratch: list[Problem] = []
            out = structure_value(value, arg, path, scratch)
            if not scratch:
                return out
        problems.append(Problem(path, f"expected {type_name(tp)}, got {_describe(value)}{suffix}"))
        return None
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            problems.append(Problem(path, f"expected {type_name(tp)}, got {_describe(value)}{suffix}"))
            return None
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                problems.append(Problem(path, f"expected {len(args)} values, got {len(value)}{suffix}"))
                return None
            items = [structure_value(v, a, f"{path}[{i}]", problems, suffix) for i, (v, a) in enumerate(zip(value, args))]
        else:
            inner = args[0] if args else Any
            items = [structure_value(v, inner, f"{path}[{i}]", problems, suffix) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else list(items)
    if attrs.has(tp):
        return structure_attrs(tp, value, path, problems, suffix=suffix)
    if tp is Any:
        return value
    try:
        return converter.structure(value, tp)
    except Exception:  # noqa: BLE001 - cattrs raises many types; all mean "wrong type"
        problems.append(Problem(path, f"expected {type_name(tp)}, got {_describe(value)}{suffix}"))
        return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def structure_attrs(
    cls: type,
    data: Any,
    path: str,
    problems: list[Problem],
    *,
    registries: Any = None,
    suffix: str = "",
) -> Any:
    """Structure ``data`` (a TOML table) into ``cls``, appending every problem to ``problems``.

    Returns:
        An instance of ``cls``, or None when any problem was found inside it.
    """
    if not isinstance(data, Mapping):
        problems.append(Problem(path, f"must be a table, got {_describe(data)}{suffix}"))
        return None
    attrs.resolve_types(cls)
    fields = attrs.fields(cls)
    names = [f.name for f in fields]
    moved = getattr(cls, "__jasper_moved__", {})
    start = len(problems)
    for key in data:
        if key not in names:
            if key in moved:
                hint = f"; it lives in {moved[key]}"
            else:
                hint = did_you_mean(str(key), names)
            problems.append(Problem(path, f'unknown key "{key}"{hint}{suffix}'))
    kwargs: dict[str, Any] = {}
    for f in fields:
        fpath = _join(path, f.name)
        kind = f.metadata.get(KIND_KEY)
        present = f.name in data
        if kind is not None:
            default = f.metadata[DEFAULT_KEY]
            raw = data[f.name] if present else default
            if present and isinstance(raw, Mapping) and "type" not in raw and isinstance(default, Mapping):
                raw = {"type": default["type"], **raw}  # a table without `type` keeps the default component
            kwargs[f.name] = _structure_components(kind, raw, f, fpath, problems, registries)
            continue
        if not present:
            if f.default is attrs.NOTHING and attrs.has(f.type):
                kwargs[f.name] = structure_attrs(f.type, {}, fpath, problems, registries=registries, suffix=suffix)
            elif f.default is attrs.NOTHING:
                problems.append(Problem(fpath, f"missing required key ({type_name(f.type)}){suffix}"))
            continue
        before = len(problems)
        if attrs.has(f.type):
            value = structure_attrs(f.type, data[f.name], fpath, problems, registries=registries, suffix=suffix)
        else:
            value = structure_value(data[f.name], f.type, fpath, problems, suffix)
        if len(problems) == before and f.validator is not None:
            try:
                f.validator(None, f, value)
            except (ValueError, TypeError) as exc:
                problems.append(Problem(fpath, f"{exc}{suffix}"))
        kwargs[f.name] = value
    if len(problems) > start:
        return None
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # cross-field checks in __attrs_post_init__
        problems.append(Problem(path, f"{exc}{suffix}"))
        return None


def _structure_components(kind: str, raw: Any, field: Any, path: str, problems: list[Problem], registries: Any) -> Any:
    is_list = typing.get_origin(field.type) in (tuple, list)
    envelope = field.metadata.get(ENVELOPE_KEY, {})
    if not is_list:
        return structure_component(kind, raw, path, problems, registries, envelope)
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        problems.append(Problem(path, f"must be a list of tables ([[{path}]]), got {_describe(raw)}"))
        return None
    return tuple(
        structure_component(kind, item, f"{path}[{i}]", problems, registries, envelope) for i, item in enumerate(raw)
    )


def structure_component(
    kind: str, data: Any, path: str, problems: list[Problem], registries: Any, envelope: Mapping[str, Any] = {}
) -> Component | None:
    """Resolve ``data["type"]`` in the ``kind`` registry and structure the rest into its config."""
    if not isinstance(data, Mapping):
        problems.append(Problem(path, f'must be a table with a "type" key, got {_describe(data)}'))
        return None
    registry = registries[kind]
    if "type" not in data:
        problems.append(Problem(f"{path}.type", f"missing; available {kind}s: {', '.join(registry.names()) or '(none)'}"))
        return None
    name = data["type"]
    if not isinstance(name, str) or name not in registry:
        problems.append(Problem(f"{path}.type", registry.unknown_message(name)))
        return None
    entry = registry.get(name)
    suffix = f'   ({kind} "{name}" from {entry.plugin})'
    start = len(problems)
    options: dict[str, Any] = {}
    for key, (tp, validator, default) in envelope.items():
        value = structure_value(data[key], tp, f"{path}.{key}", problems, suffix) if key in data else default
        if len(problems) == start and validator is not None and value is not None:
            try:
                validator(None, None, value)
            except (ValueError, TypeError) as exc:
                problems.append(Problem(f"{path}.{key}", f"{exc}{suffix}"))
        options[key] = value
    rest = {k: v for k, v in data.items() if k != "type" and k not in envelope}
    config = None
    if entry.config is None:
        for key in rest:
            problems.append(Problem(path, f'unknown key "{key}"; {kind} "{name}" takes no options{suffix}'))
    else:
        config = structure_attrs(entry.config, rest, path, problems, registries=registries, suffix=suffix)
    if len(problems) > start:
        return None
    return Component(kind=kind, type=name, config=config, plugin=entry.plugin, path=path, options=options)


def structure_config(cls: type, data: Mapping[str, Any], path: str = "", *,
                     registries: Any = None) -> tuple[Any, list[Problem]]:
    """Structure a single config class; returns ``(instance_or_None, problems)``.

    ``registries`` is needed when the class nests components (a model's router).
    """
    problems: list[Problem] = []
    return structure_attrs(cls, data, path, problems, registries=registries), problems
