import attrs
import pytest

from jasper_core.errors import RegistryError
from jasper_core.registry import KINDS, REGISTER_HOOKS, Registry


@attrs.frozen
class Cfg:
    x: int = 1


def test_registry__add_and_get():
    reg = Registry("loss")
    reg.add("focal", dict, config=Cfg, plugin="jasper-focal 0.3")
    entry = reg.get("focal")
    assert entry.factory is dict and entry.config is Cfg and entry.plugin == "jasper-focal 0.3"
    assert "focal" in reg and len(reg) == 1


def test_registry__duplicate_names_both_plugins():
    reg = Registry("loss")
    reg.add("infonce", dict, plugin="jasper-retrieval 0.1.0")
    with pytest.raises(RegistryError) as err:
        reg.add("infonce", list, plugin="jasper-other 2.0")
    assert "jasper-retrieval 0.1.0" in str(err.value) and "jasper-other 2.0" in str(err.value)


def test_registry__unknown_name_suggests_closest_and_lists_available():
    reg = Registry("router")
    reg.add("gumbel_softmax", dict)
    reg.add("hard_topk", dict)
    with pytest.raises(RegistryError) as err:
        reg.get("gumbel_softmx")
    msg = str(err.value)
    assert 'did you mean "gumbel_softmax"' in msg and "available: gumbel_softmax, hard_topk" in msg


def test_registry__rejects_non_attrs_config():
    with pytest.raises(TypeError, match="attrs class"):
        Registry("loss").add("x", dict, config=dict)


def test_registry__every_kind_has_a_register_hook():
    assert set(REGISTER_HOOKS) == set(KINDS)
