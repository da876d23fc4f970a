"""A resolved recipe component: a registered name plus its structured config."""

from __future__ import annotations

from typing import Any, Mapping

import attrs

from jasper_core.errors import RecipeError, Problem


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
        from jasper_core.recipe.structure import unstructure_config

        out: dict[str, Any] = {"type": self.type}
        out.update(self.options)
        if self.config is not None:
            out.update(unstructure_config(self.config))
        return out

    def build(self, registries: Any, **context: Any) -> Any:
        """Call the registered factory with this component's config and the kind's context.

        A ``ValueError``/``TypeError`` raised by the factory becomes a :class:`RecipeError`
        pointing at this component's recipe path.
        """
        entry = registries[self.kind].get(self.type)
        try:
            if entry.config is None:
                return entry.factory(**context)
            return entry.factory(self.config, **context)
        except (ValueError, TypeError) as exc:
            if isinstance(exc, RecipeError):
                raise
            raise RecipeError(
                "recipe", [Problem(self.path, f'{exc}   ({self.kind} "{self.type}" from {self.plugin})')]
            ) from exc
