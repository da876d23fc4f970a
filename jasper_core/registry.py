"""One registry per component kind.

Plugins fill registries through their ``jasper_register_<kinds>`` hooks; recipes look names up
here. Every entry remembers the plugin (distribution) it came from, so duplicate names and
``jasper plugins`` can say where a component lives.

Example:
    >>> registry.add("focal_infonce", FocalInfoNCE, config=FocalInfoNCEConfig)
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import attrs

from jasper_core.errors import RegistryError
from jasper_core.suggest import did_you_mean

#: The component kinds, in the order ``jasper plugins`` lists them.
KINDS: tuple[str, ...] = ("dataset", "model", "encoder", "router", "loss", "schedule", "metric", "logger", "embedder")

#: The registration hook of each kind.
REGISTER_HOOKS: dict[str, str] = {
    "dataset": "jasper_register_datasets",
    "model": "jasper_register_models",
    "encoder": "jasper_register_encoders",
    "router": "jasper_register_routers",
    "loss": "jasper_register_losses",
    "schedule": "jasper_register_schedules",
    "metric": "jasper_register_metrics",
    "logger": "jasper_register_loggers",
    "embedder": "jasper_register_embedders",
}


@attrs.frozen
class Entry:
    """A registered component.

    Attributes:
        kind: the registry it lives in (``"loss"``, ``"model"``, ...).
        name: the name recipes use in ``type = "..."``.
        factory: called as ``factory(config, **context)`` (or ``factory(**context)`` without config).
        config: the attrs class of its recipe fields, or None when it takes none.
        plugin: the plugin it came from, e.g. ``"jasper-retrieval 0.1.0"``.
    """

    kind: str
    name: str
    factory: Callable[..., Any]
    config: type | None
    plugin: str

    @property
    def summary(self) -> str:
        """First line of the factory's docstring."""
        doc = (getattr(self.factory, "__doc__", None) or "").strip()
        return doc.splitlines()[0] if doc else ""


class Registry:
    """Name → :class:`Entry` for one kind of component."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, factory: Callable[..., Any], config: type | None = None, *, plugin: str = "<unknown>") -> Entry:
        """Register ``factory`` under ``name``.

        Raises:
            RegistryError: the name is taken (the message names both plugins).
            TypeError: ``config`` is not an attrs class or ``factory`` is not callable.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} names must be non-empty strings, got {name!r}")
        if not callable(factory):
            raise TypeError(f"{self.kind} {name!r}: factory must be callable, got {factory!r}")
        if config is not None and not attrs.has(config):
            raise TypeError(f"{self.kind} {name!r}: config must be an attrs class, got {config!r}")
        if name in self._entries:
            other = self._entries[name]
            raise RegistryError(
                f'{self.kind} "{name}" from {plugin} is already registered by {other.plugin}; '
                "rename one of them or disable a plugin with JASPER_DISABLE_PLUGINS"
            )
        entry = Entry(self.kind, name, factory, config, plugin)
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        """Forget ``name`` (used when a plugin is unloaded)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> Entry:
        """Return the entry for ``name``.

        Raises:
            RegistryError: unknown name; the message lists what exists and the closest match.
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise RegistryError(self.unknown_message(name)) from None

    def unknown_message(self, name: Any) -> str:
        """The message for an unknown name: did-you-mean plus the available names."""
        available = ", ".join(sorted(self._entries)) or "(none registered)"
        return f'"{name}" is not a registered {self.kind}{did_you_mean(str(name), self._entries)}\navailable: {available}'

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)


class Registries:
    """All registries, one attribute per kind (``registries.loss``, ``registries.model``, ...)."""

    def __init__(self) -> None:
        self._by_kind = {kind: Registry(kind) for kind in KINDS}

    def __getattr__(self, kind: str) -> Registry:
        by_kind = self.__dict__.get("_by_kind", {})
        if kind in by_kind:
            return by_kind[kind]
        raise AttributeError(kind)

    def __getitem__(self, kind: str) -> Registry:
        return self._by_kind[kind]

    def entries(self) -> Iterator[Entry]:
        """Every entry, kind by kind in :data:`KINDS` order."""
        for kind in KINDS:
            yield from self._by_kind[kind]


class Registrar:
    """What a plugin's ``jasper_register_*`` hook receives: ``add`` into one kind, on behalf of one plugin.

    Every name it adds is recorded in ``staged``; when one of the plugin's hooks raises, the
    loader removes those names again, so a plugin that fails halfway leaves nothing behind.
    """

    def __init__(self, registry: Registry, plugin: str, staged: list[tuple[Registry, str]]) -> None:
        self._registry = registry
        self._plugin = plugin
        self._staged = staged
        self.kind = registry.kind

    def add(self, name: str, factory: Callable[..., Any], config: type | None = None) -> None:
        """Register ``factory`` under ``name`` with an optional attrs ``config`` class."""
        self._registry.add(name, factory, config, plugin=self._plugin)
        self._staged.append((self._registry, name))

    def names(self) -> list[str]:
        return self._registry.names()
