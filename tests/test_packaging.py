"""Packaging: every package folder is listed in pyproject (the renamed folders need an explicit list)."""

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
RENAMED = {"plugins": "jasper_plugins", "recipes": "jasper_recipes"}


def test_packaging__every_package_folder_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for top in ("jasper", "jasper_core", "plugins", "recipes"):
        for init in (ROOT / top).rglob("__init__.py"):
            parts = list(init.parent.relative_to(ROOT).parts)
            parts[0] = RENAMED.get(parts[0], parts[0])
            found.add(".".join(parts))
    assert found == listed, (found - listed, listed - found)


def test_packaging__builtin_entry_points_cover_plugin_packages():
    eps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["jasper"]
    subpackages = {p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").exists()}
    assert {v.split(".")[-1] for v in eps.values()} == subpackages
