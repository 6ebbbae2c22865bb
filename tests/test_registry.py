import pytest

from mudjack.errors import UnknownNameError
from mudjack.registry import Registry


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
