import pytest

from mudjack.errors import InputError, UnknownNameError
from mudjack.registry import Configurable, Registry


def test_registry_builds_lists_and_refuses_a_second_class_under_one_name():
    reg: Registry[type] = Registry("widget", set_name=True)

    @reg.register("round-b")
    class B:
        def __init__(self, size=1):
            self.size = size

    @reg.register("round-a")
    class A:
        pass

    assert reg.names() == ["round-a", "round-b"] and reg.names("*-b") == ["round-b"]
    assert B.name == "round-b" and reg.create("round-b", size=3).size == 3
    reg.register("round-b")(B)  # registering the same class again is harmless
    with pytest.raises(ValueError, match="widget name 'round-b' is already registered"):
        reg.register("round-b")(A)
    with pytest.raises(
        UnknownNameError, match=r"Unknown widget 'square'\. Expected one of: round-a, round-b\."
    ):
        reg.get("square")
    plain: Registry[type] = Registry("thing")
    plain.register("x")(A)
    assert plain.get("x") is A


def test_registry_holds_functions_too_and_checks_arguments_by_name():
    reg: Registry = Registry("loader")

    @reg.register("ones")
    def ones(n: int = 2, *, value: float = 1.0):
        return [value] * n

    assert "ones" in reg and "twos" not in reg and list(reg) == ["ones"] and len(reg) == 1
    assert reg["ones"] is ones and reg.create("ones", n=3) == [1.0, 1.0, 1.0]
    assert not hasattr(ones, "name")  # set_name is for classes
    with pytest.raises(InputError, match=r"Unknown argument 'size' for loader 'ones'\. Expected "):
        reg.create("ones", size=3)
    assert "ones" in repr(reg)


def test_configurable_reads_parameters_from_the_constructor():
    class Knob(Configurable):
        def __init__(self, *, level: int = 1, label: str = "a") -> None:
            self.level = level
            self.label = label
            self.cache_ = "learned"

    assert Knob(level=3).get_params() == {"level": 3, "label": "a"}
    assert repr(Knob()) == "Knob(level=1, label='a')"

    class Loose(Configurable):
        def __init__(self, **kwargs) -> None:
            self.kwargs = kwargs

    with pytest.raises(TypeError, match=r"Loose.__init__ takes \*\*kwargs; name every parameter"):
        Loose().get_params()
