"""The example third-party plugin, discovered through a real entry point (a dist-info on sys.path)."""

import json
import sys
from pathlib import Path

import pytest

from jasper_core.cli.main import main
from jasper_core.plugin_manager import load_plugins
from jasper_core.recipe import recipe_from_text

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "jasper-example"


@pytest.fixture
def example_installed(tmp_path, monkeypatch):
    dist = tmp_path / "site" / "jasper_example-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: jasper-example\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[jasper]\nexample = jasper_example.plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield
    for name in [m for m in sys.modules if m.startswith("jasper_example")]:
        del sys.modules[name]


def test_example_plugin__discovered_through_entry_point(example_installed):
    plugins = load_plugins(disabled=[])
    assert not plugins.failures
    loss = plugins.registries.loss.get("focal_infonce")
    router = plugins.registries.router.get("centroid_cosine")
    assert loss.plugin == router.plugin == "jasper-example 0.1.0"
    assert [p.label for p in plugins.loaded][-1] == "jasper-example 0.1.0"  # built-ins load first


def test_example_plugin__listed_by_jasper_plugins_json(example_installed, capsys):
    assert main(["plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    row = next(r for r in rows if r["name"] == "focal_infonce")
    assert row == {"kind": "loss", "name": "focal_infonce", "plugin": "jasper-example 0.1.0",
                   "config": {"temperature": 0.07, "gamma": 2.0}, "summary": row["summary"]}


def test_example_plugin__usable_from_a_recipe_by_name(example_installed, tiny_recipe_text, tmp_path, capsys):
    text = 'requires = ["jasper-example>=0.1"]\n' + tiny_recipe_text + '\n[[loss]]\ntype = "focal_infonce"\ngamma = 1.5\n'
    recipe = recipe_from_text(text, load_plugins(disabled=[]).registries)
    assert recipe.loss[-1].type == "focal_infonce" and recipe.loss[-1].config.gamma == 1.5
    path = tmp_path / "r.toml"
    path.write_text(text)
    assert main(["check", str(path)]) == 0
    assert "focal_infonce=" in capsys.readouterr().out


def test_example_plugin__bad_value_names_the_plugin(example_installed):
    from jasper_core.errors import RecipeError

    with pytest.raises(RecipeError) as err:
        recipe_from_text('[[loss]]\ntype = "focal_infonce"\ngamma = -1\n', load_plugins(disabled=[]).registries)
    assert 'loss[0].gamma: must be >= 0, got -1.0   (loss "focal_infonce" from jasper-example 0.1.0)' in str(err.value)


def test_example_plugin__gone_after_removal(registries):
    assert "focal_infonce" not in load_plugins(disabled=[]).registries.loss


def test_example_plugin__loss_passes_the_shared_property_checks(example_installed):
    from jasper_core.testing import check_loss_properties
    from jasper_example.plugin import FocalInfoNCE, FocalInfoNCEConfig

    check_loss_properties(lambda: FocalInfoNCE(FocalInfoNCEConfig()), scale_invariant=True)


def test_example_plugin__router_passes_the_contract_and_routes_a_decomposed_model(example_installed, tiny_recipe_text,
                                                                                 tmp_path, capsys):
    from jasper_core.testing import check_router
    from jasper_example.plugin import CentroidCosineRouter, CentroidCosineRouterConfig

    check_router(lambda dim, c: CentroidCosineRouter(CentroidCosineRouterConfig(), dim=dim, num_clusters=c))
    path = tmp_path / "r.toml"
    path.write_text(tiny_recipe_text)
    assert main(["check", str(path), "--set", "model.type=decomposed", "--set", "model.router.type=centroid_cosine"]) == 0
    assert "routing_weights" not in capsys.readouterr().err


def test_broken_distribution__import_error_is_named_and_cli_keeps_working(tmp_path, monkeypatch, capsys):
    dist = tmp_path / "site" / "jasper_broken-0.2.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: jasper-broken\nVersion: 0.2.0\n")
    (dist / "entry_points.txt").write_text("[jasper]\nbroken = jasper_broken_missing.plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    plugins = load_plugins(disabled=[])
    [failure] = plugins.failures
    assert failure.name == "jasper-broken:broken" and failure.distribution == "jasper-broken"
    assert failure.stage == "import" and "ModuleNotFoundError" in failure.error
    assert "infonce" in plugins.registries.loss
    assert main(["plugins"]) == 0
    captured = capsys.readouterr()
    assert "jasper-broken" in captured.err and "failed at import" in captured.err
    assert main(["--strict-plugins", "plugins"]) == 1
    assert "jasper-broken" in capsys.readouterr().err
    monkeypatch.setenv("JASPER_DISABLE_PLUGINS", "jasper-broken")
    assert not load_plugins().failures
