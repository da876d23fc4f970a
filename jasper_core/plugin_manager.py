"""Load plugins: built-ins first, then third parties, each isolated from the others' failures.

Plugins come from the ``jasper`` entry-point group (the built-ins too: they are entry points of
the ``jasper`` distribution). A plugin that fails to import, declares a hook that does not exist,
or raises while registering is reported by name and skipped; with ``strict=True`` (or
``JASPER_STRICT_PLUGINS=1``) the failure is raised instead.

Environment:
    JASPER_DISABLE_PLUGINS: comma-separated plugin names (entry-point names such as ``example``,
        ``dist:name`` or a whole distribution name) to skip.
    JASPER_STRICT_PLUGINS: ``1`` makes any plugin failure fatal.
    JASPER_TRACE_HOOKS: ``1`` prints every hook call (pluggy tracing) to stderr.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import sys
from typing import Any, Iterable

import attrs
import pluggy

from jasper_core.errors import PluginError
from jasper_core.hookspecs import SPEC_MODULES
from jasper_core.hookspecs.markers import PROJECT
from jasper_core.registry import KINDS, REGISTER_HOOKS, Registrar, Registries
from jasper_core.suggest import did_you_mean

BUILTIN_DISTRIBUTION = "jasper-retrieval"
GROUP = "jasper"


@attrs.frozen
class PluginInfo:
    """A loaded plugin: its name in the plugin manager and the distribution it came from."""

    name: str
    distribution: str
    version: str

    @property
    def label(self) -> str:
        return f"{self.distribution} {self.version}".strip()


@attrs.frozen
class PluginFailure:
    """A plugin that was skipped, with the stage it failed at and why."""

    name: str
    distribution: str
    stage: str  # "import" | "hooks" | "register"
    error: str

    def __str__(self) -> str:
        return f"plugin {self.name!r} ({self.distribution}) failed at {self.stage}: {self.error}"


@attrs.define
class Plugins:
    """The outcome of :func:`load_plugins`: a pluggy manager, filled registries, and what failed."""

    manager: pluggy.PluginManager
    registries: Registries
    loaded: list[PluginInfo]
    failures: list[PluginFailure]
    disabled: list[str]

    @property
    def hook(self) -> Any:
        return self.manager.hook


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") in ("1", "true", "yes")


def _env_list(name: str) -> list[str]:
    return [p.strip() for p in os.environ.get(name, "").split(",") if p.strip()]


def _entry_points() -> list[tuple[str, str, str, Any]]:
    """(name, distribution, version, entry point) for the group, built-ins first, deduplicated."""
    seen: set[tuple[str, str]] = set()
    found = []
    for ep in metadata.entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else "<unknown>"
        version = dist.version if dist is not None else ""
        key = (dist_name, ep.name)
        if key in seen:
            continue
        seen.add(key)
        found.append((ep.name, dist_name, version, ep))
    found.sort(key=lambda t: (t[1] != BUILTIN_DISTRIBUTION, t[1], t[0]))
    return found


def _unknown_hooks(manager: pluggy.PluginManager, plugin: object) -> list[str]:
    """Hook implementations of ``plugin`` that match no spec (a misspelt hook name)."""
    problems = []
    for caller in manager.get_hookcallers(plugin) or []:
        if not caller.has_spec():
            known = [n for n in dir(manager.hook)
                     if n.startswith("jasper_") and getattr(manager.hook, n).has_spec()]
            problems.append(f"unknown hook {caller.name}{did_you_mean(caller.name, known)}")
    return problems


def load_plugins(
    *,
    extra: Iterable[tuple[str, object]] = (),
    strict: bool | None = None,
    disabled: Iterable[str] | None = None,
    entry_points: bool = True,
) -> Plugins:
    """Create a plugin manager, load every plugin and fill the registries.

    Args:
        extra: ``(name, plugin_object)`` pairs registered after the entry points (tests and
            notebooks use this for throwaway plugins).
        strict: raise :class:`PluginError` on the first plugin failure; default from
            ``JASPER_STRICT_PLUGINS``.
        disabled: plugin names to skip; default from ``JASPER_DISABLE_PLUGINS``.
        entry_points: load the ``jasper`` entry-point group (built-ins included).

    Returns:
        The manager, the registries and the list of skipped plugins with reasons.
    """
    strict = _env_flag("JASPER_STRICT_PLUGINS") if strict is None else strict
    disabled_names = set(_env_list("JASPER_DISABLE_PLUGINS") if disabled is None else disabled)
    manager = pluggy.PluginManager(PROJECT)
    for module in SPEC_MODULES:
        manager.add_hookspecs(module)
    if _env_flag("JASPER_TRACE_HOOKS"):
        manager.trace.root.setwriter(lambda msg: sys.stderr.write(msg))
        manager.enable_tracing()

    result = Plugins(manager, Registries(), [], [], [])

    def fail(name: str, dist: str, stage: str, error: str) -> None:
        failure = PluginFailure(name, dist, stage, error)
        if strict:
            raise PluginError(str(failure))
        result.failures.append(failure)

    candidates: list[tuple[PluginInfo, Any]] = []
    if entry_points:
        for name, dist, version, ep in _entry_points():
            qualified = f"{dist}:{name}"
            if disabled_names & {name, qualified, dist}:
                result.disabled.append(qualified)
                continue
            try:
                obj = ep.load()
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - any import failure is isolated, sys.exit too
                fail(qualified, dist, "import", f"{type(exc).__name__}: {exc}")
                continue
            candidates.append((PluginInfo(qualified, dist, version), obj))
    for name, obj in extra:
        if name in disabled_names:
            result.disabled.append(name)
            continue
        dist = getattr(obj, "__name__", name).split(".")[0]
        candidates.append((PluginInfo(name, dist, ""), obj))

    for info, obj in candidates:
        _add_plugin(result, info, obj, fail)
    manager.check_pending()
    return result


def _add_plugin(result: Plugins, info: PluginInfo, obj: object, fail) -> None:
    manager = result.manager
    try:
        manager.register(obj, name=info.name)
    except Exception as exc:  # noqa: BLE001 - pluggy validation errors and duplicates
        fail(info.name, info.distribution, "hooks", f"{type(exc).__name__}: {exc}")
        return
    problems = _unknown_hooks(manager, obj)
    if problems:
        manager.unregister(obj)
        fail(info.name, info.distribution, "hooks", "; ".join(problems))
        return
    staged: list[tuple[Any, str]] = []
    try:
        for kind in KINDS:
            registrar = Registrar(result.registries[kind], info.label, staged)
            for impl in getattr(manager.hook, REGISTER_HOOKS[kind]).get_hookimpls():
                if impl.plugin is obj:
                    impl.function(registry=registrar)
    except Exception as exc:  # noqa: BLE001 - a failing registration is isolated
        for registry, name in staged:
            registry.remove(name)
        manager.unregister(obj)
        fail(info.name, info.distribution, "register", f"{type(exc).__name__}: {exc}")
        return
    result.loaded.append(info)
