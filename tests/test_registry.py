import pytest

from qbench.errors import RegistryError
from qbench.registry import Registry, import_string


def test_register_decorator_lazy_string_and_did_you_mean():
    reg = Registry("thing")

    @reg.register("alpha")
    class Alpha:
        pass

    reg.register("beta", "collections:OrderedDict")
    assert reg.get("alpha") is Alpha
    import collections
    assert reg.get("beta") is collections.OrderedDict
    with pytest.raises(RegistryError, match="did you mean 'alpha'"):
        reg.get("alpah")


def test_import_string_resolution_and_errors():
    assert import_string("os.path:join").__name__ == "join"
    reg = Registry("thing")
    assert reg.get("os.path:join") is import_string("os.path:join")
    with pytest.raises(RegistryError, match="cannot import module"):
        import_string("no_such_module_xyz:thing")
    with pytest.raises(RegistryError, match="has no attribute"):
        import_string("os.path:no_such_attr")


def test_duplicate_registration_rejected():
    reg = Registry("thing")
    reg.register("a", "os:sep")
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("a", "os:pathsep")


def test_first_party_solvers_come_from_entry_points():
    from qbench.solvers import REGISTRY, resolve

    assert "identity" in REGISTRY.names()
    assert "entry point qbench.solvers" in REGISTRY.origin("identity")
    assert resolve("identity").card.task == "enhance"
    with pytest.raises(RegistryError, match="did you mean 'identity'"):
        resolve("identiy")
