"""Meta-tests: the docs cover every hook, every built-in component and every recipe key."""

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
