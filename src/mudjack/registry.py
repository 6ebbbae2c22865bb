"""Name -> class registries, in the manner of timm's ``create_model``: one for encoders, one
for encoder patchers, one for client-side patchers."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from mudjack.errors import UnknownNameError

C = TypeVar("C", bound=type)


class Registry(Generic[C]):
    """Classes by name.

    Args:
        what: what the names are, for error messages ("encoder", "patching method").
        set_name: also store the name on the class as ``cls.name``.
    """

    def __init__(self, what: str, *, set_name: bool = False) -> None:
        self.what = what
        self.set_name = set_name
        self._classes: dict[str, C] = {}

    def register(self, name: str) -> Callable[[C], C]:
        """Class decorator: make the class constructible by ``create(name)``."""

        def deco(cls: C) -> C:
            if self._classes.get(name, cls) is not cls:
                raise ValueError(f"The {self.what} name {name!r} is already registered.")
            if self.set_name:
                cls.name = name  # type: ignore[attr-defined]
            self._classes[name] = cls
            return cls

        return deco

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style ``pattern``, sorted."""
        return sorted(n for n in self._classes if fnmatch.fnmatch(n, pattern))

    def get(self, name: str) -> C:
        if name not in self._classes:
            raise UnknownNameError(
                f"Unknown {self.what} {name!r}. Expected one of: {', '.join(self.names())}."
            )
        return self._classes[name]

    def create(self, name: str, **kwargs: Any) -> Any:
        return self.get(name)(**kwargs)
