"""Find, read, override and validate a recipe; every problem is reported in one RecipeError."""

from __future__ import annotations

import copy
import importlib.metadata as metadata
import importlib.resources
import re
import sys
from pathlib import Path
from typing import Any, Iterable

import tomli_w

from jasper_core.errors import Problem, RecipeError
from jasper_core.recipe.overrides import apply_overrides
from jasper_core.recipe.schema import Recipe
from jasper_core.recipe.convert import unstructure_config
from jasper_core.recipe.structure import structure_attrs
from jasper_core.suggest import did_you_mean
from jasper_core.validators import non_utf8_strings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RECIPE_PACKAGE = "jasper_recipes"


def builtin_recipes() -> dict[str, str]:
    """Name → TOML text of the recipes installed with jasper."""
    out = {}
    try:
        root = importlib.resources.files(RECIPE_PACKAGE)
    except ModuleNotFoundError:
        return out
    for item in root.iterdir():
        if item.name.endswith(".toml"):
            out[item.name[: -len(".toml")]] = item.read_text(encoding="utf-8")
    return out


def read_recipe_source(name_or_path: str) -> tuple[str, str]:
    """Return ``(source_label, text)`` for a recipe path or a built-in recipe name.

    Raises:
        RecipeError: neither a readable file nor a built-in name (lists the built-ins).
    """
    path = Path(name_or_path)
    if path.is_dir():
        raise RecipeError(str(path), [Problem("<file>", "is a directory; give a recipe .toml file or a built-in recipe name")])
    if path.is_file():
        try:
            return str(path), path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RecipeError(str(path), [Problem("<file>", f"cannot read: {exc}")]) from None
    builtins = builtin_recipes()
    stem = name_or_path[:-5] if name_or_path.endswith(".toml") else name_or_path
    if stem in builtins:
        return f"recipe {stem!r}", builtins[stem]
    hint = did_you_mean(stem, builtins)
    raise RecipeError(
        name_or_path,
        [Problem("<recipe>", f"no such file and no built-in recipe of that name{hint}; built-in: {', '.join(sorted(builtins)) or '(none)'}")],
    )


def parse_toml(source: str, text: str) -> dict[str, Any]:
    """Parse TOML, turning a syntax error into a one-problem RecipeError."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(source, [Problem("<toml>", f"not valid TOML: {exc}")]) from None


def _requirement_problems(requires: Any) -> list[Problem]:
    problems = []
    if not isinstance(requires, list):
        return problems  # the structurer reports the type
    for i, req in enumerate(requires):
        if not isinstance(req, str):
            continue
        m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(?:>=\s*([0-9][0-9a-zA-Z.]*))?\s*$", req)
        if not m:
            problems.append(Problem(f"requires[{i}]", f'cannot read {req!r}; write "distribution" or "distribution>=1.2"'))
            continue
        name, minimum = m.group(1), m.group(2)
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(Problem(f"requires[{i}]", f'plugin distribution "{name}" is not installed; pip install {name}'))
            continue
        if minimum and _version_tuple(have) < _version_tuple(minimum):
            problems.append(Problem(f"requires[{i}]", f'needs {name}>={minimum}, installed {have}; pip install -U {name}'))
    return problems


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:4])


def recipe_from_data(source: str, data: dict[str, Any], registries: Any, overrides: Iterable[str] = ()) -> Recipe:
    """Validate already-parsed recipe data (plus overrides) into a :class:`Recipe`.

    Raises:
        RecipeError: with every problem found, each with its dotted path.
    """
    data = copy.deepcopy(data)
    problems: list[Problem] = []
    apply_overrides(data, list(overrides), problems)
    problems.extend(Problem(where, f'"{value.encode("utf-8", "backslashreplace").decode()}" is not valid UTF-8; recipes are '
                                   "stored as UTF-8 TOML: rename the file or directory")
                    for where, value in non_utf8_strings(data))
    problems.extend(_requirement_problems(data.get("requires", [])))
    recipe = structure_attrs(Recipe, data, "", problems, registries=registries)
    if problems or recipe is None:
        raise RecipeError(source, problems or [Problem("<recipe>", "invalid recipe")])
    return recipe


def load_recipe(name_or_path: str, registries: Any, overrides: Iterable[str] = ()) -> Recipe:
    """Find, parse and validate a recipe by path or built-in name."""
    source, text = read_recipe_source(name_or_path)
    return recipe_from_data(source, parse_toml(source, text), registries, overrides)


def recipe_from_text(text: str, registries: Any, source: str = "<text>", overrides: Iterable[str] = ()) -> Recipe:
    """Parse and validate recipe TOML text."""
    return recipe_from_data(source, parse_toml(source, text), registries, overrides)


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """The resolved recipe as plain data (every default filled in)."""
    return unstructure_config(recipe)


def recipe_to_toml(recipe: Recipe) -> str:
    """The resolved recipe as TOML text (what is stored in run directories and checkpoints)."""
    return tomli_w.dumps(recipe_to_dict(recipe))


def _resolved_again(text: str, registries: Any) -> str:
    """``text`` resolved with today's schema and plugins (every default filled in), or ``text`` itself."""
    try:
        return recipe_to_toml(recipe_from_text(text, registries))
    except RecipeError:
        return text


#: Keys that change how fast a run trains but not what it computes: a run may resume with another value.
SPEED_ONLY_KEYS = (("train", "cuda_graph"),)


def same_run(recipe_text: str, other_text: str, registries: Any = None) -> bool:
    """Whether two recipe TOML texts (:func:`recipe_to_toml`) describe the same run: equal once the
    :data:`SPEED_ONLY_KEYS` are left out (``train.cuda_graph`` gives the same weights bit for bit).

    With ``registries`` both texts are first resolved again, so a key added since a text was written
    (absent there) compares as its default: a run saved by an earlier version still resumes. A text
    that no longer resolves is compared as it is.
    """
    if recipe_text == other_text:
        return True
    if registries is not None:
        recipe_text, other_text = (_resolved_again(t, registries) for t in (recipe_text, other_text))
    try:
        a, b = tomllib.loads(recipe_text), tomllib.loads(other_text)
    except tomllib.TOMLDecodeError:
        return False
    for section, key in SPEED_ONLY_KEYS:
        for data in (a, b):
            if isinstance(data.get(section), dict):
                data[section].pop(key, None)
    return a == b
