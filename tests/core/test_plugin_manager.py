"""Plugin loading: built-ins through entry points, throwaway plugins, isolation of broken ones."""

import types

import pytest

from jasper_core import hookimpl
from jasper_core.errors import PluginError
from jasper_core.plugin_manager import load_plugins
from jasper_core.testing import plugins_with


def _module(name: str, **hooks) -> types.ModuleType:
    mod = types.ModuleType(name)
    for key, fn in hooks.items():
        setattr(mod, key, fn)
    return mod


def test_load_plugins__builtins_register_every_kind_except_routers(plugins):
    kinds = {e.kind for e in plugins.registries.entries()}
    assert {"dataset", "model", "encoder", "loss", "schedule", "metric", "logger"} <= kinds
    assert all(e.plugin.startswith("jasper-retrieval ") for e in plugins.registries.entries())


def test_load_plugins__throwaway_plugin_registers_and_goes_away():
    @hookimpl
    def jasper_register_losses(registry):
        registry.add("throwaway", dict)

    loaded = plugins_with(_module("throwaway", jasper_register_losses=jasper_register_losses))
    assert "throwaway" in loaded.registries.loss
    assert "throwaway" not in load_plugins(disabled=[]).registries.loss


def test_load_plugins__registration_error_is_isolated_and_named():
    @hookimpl
    def jasper_register_losses(registry):
        registry.add("half_done", dict)
        raise RuntimeError("boom")

    loaded = plugins_with(_module("broken", jasper_register_losses=jasper_register_losses))
    assert "half_done" not in loaded.registries.loss  # nothing of the failed plugin is left
    assert "infonce" in loaded.registries.loss  # the others still work
    [failure] = loaded.failures
    assert failure.name == "test-plugin-0" and failure.stage == "register" and "boom" in failure.error


def test_load_plugins__duplicate_name_fails_the_newcomer_naming_both():
    @hookimpl
    def jasper_register_losses(registry):
        registry.add("infonce", dict)

    loaded = plugins_with(_module("dupe", jasper_register_losses=jasper_register_losses))
    [failure] = loaded.failures
    assert "jasper-retrieval 0.1.0" in failure.error and "already registered" in failure.error
    assert loaded.registries.loss.get("infonce").plugin.startswith("jasper-retrieval ")


def test_load_plugins__misspelt_hook_is_reported_with_suggestion():
    @hookimpl
    def jasper_register_losess(registry):
        pass

    loaded = plugins_with(_module("typo", jasper_register_losess=jasper_register_losess))
    [failure] = loaded.failures
    assert failure.stage == "hooks" and 'did you mean "jasper_register_losses"' in failure.error


def test_load_plugins__wrong_hook_arguments_are_reported():
    @hookimpl
    def jasper_register_losses(registry, extra):
        pass

    loaded = plugins_with(_module("badargs", jasper_register_losses=jasper_register_losses))
    [failure] = loaded.failures
    assert failure.stage == "hooks" and "extra" in failure.error


def test_load_plugins__strict_mode_raises():
    @hookimpl
    def jasper_register_losses(registry):
        raise RuntimeError("boom")

    with pytest.raises(PluginError, match="boom"):
        plugins_with(_module("broken", jasper_register_losses=jasper_register_losses), strict=True)


def test_load_plugins__disable_env_skips_builtin(monkeypatch):
    monkeypatch.setenv("JASPER_DISABLE_PLUGINS", "losses")
    loaded = load_plugins()
    assert len(loaded.registries.loss) == 0 and "jasper-retrieval:losses" in loaded.disabled
    assert "jepa" in loaded.registries.model


def test_load_plugins__strict_env(monkeypatch):
    monkeypatch.setenv("JASPER_STRICT_PLUGINS", "1")

    @hookimpl
    def jasper_register_losses(registry):
        raise RuntimeError("boom")

    with pytest.raises(PluginError):
        load_plugins(extra=[("bad", _module("bad", jasper_register_losses=jasper_register_losses))], disabled=[])


def test_load_plugins__trace_env_prints_hook_calls(monkeypatch, capsys):
    monkeypatch.setenv("JASPER_TRACE_HOOKS", "1")
    loaded = load_plugins(disabled=[])
    loaded.hook.jasper_epoch_start(run=None, epoch=1)
    assert "jasper_epoch_start" in capsys.readouterr().err
