"""Load plugins with extra throwaway plugin objects (modules, classes or instances with hookimpls)."""

from __future__ import annotations

from jasper_core.plugin_manager import Plugins, load_plugins


def plugins_with(*objects: object, strict: bool = False, entry_points: bool = True) -> Plugins:
    """Built-ins (and installed third parties) plus ``objects``, each named ``test-plugin-<i>``."""
    extra = [(f"test-plugin-{i}", obj) for i, obj in enumerate(objects)]
    return load_plugins(extra=extra, strict=strict, disabled=[], entry_points=entry_points)
