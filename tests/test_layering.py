"""The core never imports a plugin: jasper_core reaches built-ins only through the registries."""

import ast
from pathlib import Path

import jasper_core


def test_core__imports_no_plugin_module():
    offenders = []
    for path in Path(jasper_core.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] == "jasper_plugins"]
    assert not offenders, offenders
