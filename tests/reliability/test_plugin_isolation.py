"""A plugin that misbehaves is named in one line and skipped; the CLI keeps working."""

import sys

from jasper_core import hookimpl
from jasper_core.cli.main import build_parser, main
from jasper_core.plugin_manager import load_plugins
from jasper_core.testing import plugins_with


class RaisesInAddCommands:
    @hookimpl
    def jasper_add_commands(self, subparsers):
        raise RuntimeError("no commands today")


class AddsASecondTrain:
    @hookimpl
    def jasper_add_commands(self, subparsers):
        subparsers.add_parser("train")


def test_add_commands__a_raising_or_clashing_plugin_is_skipped(capsys):
    parser = build_parser(plugins_with(RaisesInAddCommands(), AddsASecondTrain()))
    err = capsys.readouterr().err
    assert "no commands today" in err and err.count("warning: plugin") == 2
    args = parser.parse_args(["train", "quickstart"])  # the real train command is intact
    assert args.recipe == "quickstart" and callable(args.handler)
    assert parser.parse_args(["data", "inspect", "x"]).handler  # built-in plugin commands still there


def test_import__a_plugin_calling_sys_exit_is_reported_and_skipped(tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    dist = site / "jasper_quitter-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: jasper-quitter\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[jasper]\nquitter = jasper_quitter_mod\n")
    (site / "jasper_quitter_mod.py").write_text("import sys\nsys.exit(3)\n")
    monkeypatch.syspath_prepend(str(site))
    try:
        plugins = load_plugins(disabled=[])
        [failure] = [f for f in plugins.failures if f.distribution == "jasper-quitter"]
        assert failure.stage == "import" and "SystemExit" in failure.error
        assert main(["plugins"]) == 0
        assert "jasper-quitter" in capsys.readouterr().err
    finally:
        sys.modules.pop("jasper_quitter_mod", None)
