"""Recipe components: a registered name plus its structured config, and how they are built.

A component's config may itself hold components (a model's ``router``, a loss's ``schedule``):
declare such a field with :func:`component`. The core builds those first, each seeded from the
run's seed and its own recipe path, and passes them to the parent's factory as keyword
arguments named after the field. So a model without a router builds none, and one component's
initial weights never depend on which other components exist.
"""

from __future__ import annotations

import zlib
from typing import Any, Mapping

import attrs
import torch

from jasper_core.errors import Problem, RecipeError
from jasper_core.recipe.convert import unstructure_config

KIND_KEY = "jasper_kind"  # field metadata: this field holds a component (or a list of them)
ENVELOPE_KEY = "jasper_envelope"  # field metadata: {key: (type, validator, default)} kept beside the config
DEFAULT_KEY = "jasper_default"  # field metadata: raw TOML default of a component field

#: Kinds whose factories take no build context (they are pure configuration).
CONTEXT_FREE_KINDS = frozenset({"schedule", "loss", "metric"})


def component(kind: str, default: Mapping[str, Any], *, envelope: Mapping[str, Any] | None = None) -> Any:
    """A config field holding one component table of ``kind`` (``default``: its TOML table).

    In a recipe the field always holds a :class:`Component`; a config built directly in Python
    holds None there (the factory then receives the built component from its caller).
    """
    return attrs.field(default=None, metadata={KIND_KEY: kind, DEFAULT_KEY: dict(default),
                                               ENVELOPE_KEY: dict(envelope or {})})


def components(kind: str, default: list[Mapping[str, Any]], *, envelope: Mapping[str, Any] | None = None) -> Any:
    """A field holding a list of component tables (``[[loss]]``)."""
    return attrs.field(metadata={KIND_KEY: kind, DEFAULT_KEY: [dict(d) for d in default], ENVELOPE_KEY: dict(envelope or {})})


def check_schedule_output(schedule: Any, comp: "Component", length: int | None = None) -> None:
    """Probe a built schedule at step 0: one number where ``length`` is None, else ``length`` numbers.

    Raises:
        RecipeError: the schedule gives the wrong kind of value for the slot at ``comp.path``.
    """
    value = schedule(0, 1)
    numbers = value if isinstance(value, (tuple, list)) else None
    if length is None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return
    if length is not None and numbers is not None and len(numbers) == length:
        return
    want = "one number per step" if length is None else f"{length} numbers per step (one per steering variant)"
    raise RecipeError("recipe", [Problem(comp.path, f'schedule "{comp.type}" gives {value!r} at step 0, but this place '
                                                    f"needs {want}   (schedule \"{comp.type}\" from {comp.plugin})")])


def component_seed(seed: int, path: str) -> int:
    """A stable seed for the component at recipe ``path`` of a run seeded with ``seed``."""
    return zlib.crc32(f"{seed}:{path}".encode()) & 0x7FFF_FFFF


@attrs.frozen(kw_only=True)
class Component:
    """One ``type = "..."`` table of a recipe after validation.

    Attributes:
        kind: registry kind (``"loss"``, ``"model"``, ...).
        type: the registered name.
        config: an instance of the entry's attrs config class, or None.
        plugin: the plugin that registered it (for messages).
        path: dotted recipe path of the table (``"loss[1]"``).
        options: envelope keys that belong to the recipe rather than the component (a loss ``weight``).
    """

    kind: str
    type: str
    config: Any = None
    plugin: str = ""
    path: str = ""
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=lambda d: dict(d))

    def to_dict(self) -> dict[str, Any]:
        """The TOML table this component came from (defaults filled in)."""
        out: dict[str, Any] = {"type": self.type}
        out.update(self.options)
        if self.config is not None:
            out.update(unstructure_config(self.config))
        return out

    def nested(self) -> dict[str, "Component"]:
        """The components held by this one's config, by field name."""
        if self.config is None:
            return {}
        return {f.name: getattr(self.config, f.name) for f in attrs.fields(type(self.config))
                if KIND_KEY in f.metadata and isinstance(getattr(self.config, f.name), Component)}

    def build(self, registries: Any, *, seed: int | None = None, **context: Any) -> Any:
        """Build the nested components, then call the registered factory with the config, the
        kind's ``context`` and the built nested components.

        With ``seed``, each component draws its initial weights from its own generator state,
        seeded from ``seed`` and its recipe path (the global RNG is restored afterwards).

        A ``ValueError``/``TypeError`` raised by a factory becomes a :class:`RecipeError`
        pointing at the component's recipe path.
        """
        built = {}
        for name, child in self.nested().items():
            built[name] = child.build(registries, seed=seed, **({} if child.kind in CONTEXT_FREE_KINDS else context))
            if child.kind == "schedule":
                check_schedule_output(built[name], child)
        entry = registries[self.kind].get(self.type)
        try:
            with torch.random.fork_rng(devices=[], enabled=seed is not None):
                if seed is not None:
                    torch.manual_seed(component_seed(seed, self.path))
                if entry.config is None:
                    return entry.factory(**context, **built)
                return entry.factory(self.config, **context, **built)
        except (ValueError, TypeError) as exc:
            if isinstance(exc, RecipeError):
                raise
            raise RecipeError(
                "recipe", [Problem(self.path, f'{exc}   ({self.kind} "{self.type}" from {self.plugin})')]
            ) from exc


@unstructure_config.register
def _(obj: Component) -> Any:
    return obj.to_dict()
