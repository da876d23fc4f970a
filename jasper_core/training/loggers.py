"""The recipe's loggers: registered as hook plugins for one run, each isolated from the training.

A logger that raises is reported in one line (logging, ``jasper.loggers``) and switched off for the
rest of the run; training goes on.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from jasper_core.hookspecs import lifecycle
from jasper_core.recipe import Recipe

log = logging.getLogger("jasper.loggers")
HOOK_NAMES = tuple(n for n in dir(lifecycle) if n.startswith("jasper_"))


def isolate(plugin: Any, label: str) -> None:
    """Make each lifecycle hook of ``plugin`` fail alone: the first exception is reported in one line
    (logging, ``jasper.loggers``) and the plugin is switched off for the rest of the run; training goes on."""
    failed: list[str] = []
    for name in HOOK_NAMES:
        method = getattr(plugin, name, None)
        if method is None or not callable(method):
            continue

        @functools.wraps(method)
        def call(*args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
            if failed:
                return None
            try:
                return _method(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a logger must never stop training
                failed.append(_name)
                first = (str(exc).strip().splitlines() or [""])[0]
                log.warning(f"{label} failed in {_name} ({type(exc).__name__}: {first}); it is switched off for this run")
                return None

        setattr(plugin, name, call)


def register_loggers(recipe: Recipe, plugins: Any, run_dir: Path) -> list[Any]:
    """Build the recipe's ``[[logger]]`` components, isolate each and register it as a hook plugin."""
    loggers = []
    for comp in recipe.logger:
        logger = comp.build(plugins.registries, run_dir=run_dir)
        isolate(logger, f'logger "{comp.type}" ({comp.path}, from {comp.plugin})')
        plugins.manager.register(logger, name=f"logger:{comp.path}")
        loggers.append(logger)
    return loggers


def unregister_loggers(plugins: Any, loggers: list[Any]) -> None:
    """Take the run's loggers off the hook relay."""
    for logger in loggers:
        if plugins.manager.is_registered(logger):
            plugins.manager.unregister(logger)
