"""Meta-tests: the docs cover every hook, every built-in component and every recipe key."""

import inspect
import re
from pathlib import Path

import attrs

from jasper_core.hookspecs import SPEC_MODULES
from jasper_core.recipe import EvalSection, OptimSection, Recipe, TargetSpaceSection, TrainSection

DOCS = Path(__file__).resolve().parents[1] / "docs"


def hook_names():
    return [name for mod in SPEC_MODULES for name in dir(mod) if name.startswith("jasper_")]


def test_docs__every_hook_is_documented_in_plugins_md():
    text = (DOCS / "plugins.md").read_text()
    missing = [h for h in hook_names() if h not in text]
    assert not missing, missing


def test_docs__hook_tables_match_the_hook_signatures():
    """Lifecycle and CLI rows show each hook's exact arguments; registration rows show the factory
    call documented in the hook's own docstring."""
    text = (DOCS / "plugins.md").read_text()
    for mod in SPEC_MODULES:
        for name in dir(mod):
            if not name.startswith("jasper_"):
                continue
            hook = getattr(mod, name)
            if name.startswith("jasper_register_"):
                factory = re.search(r"``factory\((.*?)\)``", " ".join(hook.__doc__.split())).group(1)
                row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
                assert f"`{factory}`" in row, (name, factory, row)
            else:
                call = f"{name}({', '.join(inspect.signature(hook).parameters)})"
                assert f"`{call}" in text, call


def test_docs__every_hook_spec_has_a_docstring():
    for mod in SPEC_MODULES:
        for name in dir(mod):
            if name.startswith("jasper_"):
                assert (getattr(mod, name).__doc__ or "").strip(), name


def test_docs__every_builtin_component_is_documented(plugins):
    text = (DOCS / "components.md").read_text()
    missing = [f"{e.kind}:{e.name}" for e in plugins.registries.entries() if f"**`{e.name}`**" not in text]
    assert not missing, missing


def test_docs__every_recipe_key_is_documented():
    text = (DOCS / "recipes.md").read_text()
    for cls in (Recipe, TargetSpaceSection, OptimSection, TrainSection, EvalSection):
        for field in attrs.fields(cls):
            name = field.name
            assert f"`{name}`" in text or f"`[{name}]`" in text, f"{cls.__name__}.{name}"
