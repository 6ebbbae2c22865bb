"""Name -> constructor registries, in the manner of timm's ``create_model``, and the parameter
contract every registered component follows.

One :class:`Registry` class holds every kind of named component: encoders, patching methods,
client-side patching methods, reverse-engineering (attribution) methods, attacks, trigger kinds
and data sets (:func:`registries` lists them all). A registry maps a name to a constructor: a
class, or a function that builds the thing (a data set loader).

Components with hyperparameters follow scikit-learn's contract (:class:`Configurable`):
``get_params()`` returns exactly the constructor's arguments, each kept unchanged as an
attribute of the same name, so ``type(obj)(**obj.get_params())`` builds an equal object.
What a component records about itself in results and model folders is a separate method,
``provenance()``.
"""

from __future__ import annotations

import fnmatch
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from mudjack.errors import InputError, UnknownNameError

C = TypeVar("C", bound=Callable[..., Any])


def _parameters(constructor: Callable[..., Any]) -> list[inspect.Parameter] | None:
    """The named parameters of ``constructor``; ``None`` when it takes ``**kwargs``."""
    sig = inspect.signature(constructor)
    params = [p for p in sig.parameters.values() if p.name != "self"]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL]


class Registry(Generic[C]):
    """Constructors by name.

    Args:
        what: what the names are, for error messages ("encoder", "patching method").
        set_name: also store the name on a registered class as ``cls.name``.
    """

    def __init__(self, what: str, *, set_name: bool = False) -> None:
        self.what = what
        self.set_name = set_name
        self._items: dict[str, C] = {}

    def register(self, name: str) -> Callable[[C], C]:
        """Decorator: make a class (or a function) constructible by ``create(name)``."""

        def deco(obj: C) -> C:
            if self._items.get(name, obj) is not obj:
                raise ValueError(f"The {self.what} name {name!r} is already registered.")
            if self.set_name and isinstance(obj, type):
                obj.name = name  # type: ignore[attr-defined]
            self._items[name] = obj
            return obj

        return deco

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style ``pattern``, sorted."""
        return sorted(n for n in self._items if fnmatch.fnmatch(n, pattern))

    def get(self, name: str) -> C:
        """The constructor registered as ``name``."""
        if name not in self._items:
            raise UnknownNameError(
                f"Unknown {self.what} {name!r}. Expected one of: {', '.join(self.names())}."
            )
        return self._items[name]

    def create(self, name: str, **kwargs: Any) -> Any:
        """Build ``name`` with ``kwargs``; an argument the constructor does not take raises
        :class:`InputError` naming the arguments it does take."""
        constructor = self.get(name)
        params = _parameters(constructor)
        if params is not None:
            known = [p.name for p in params]
            unknown = [k for k in kwargs if k not in known]
            if unknown:
                raise InputError(
                    f"Unknown argument {unknown[0]!r} for {self.what} {name!r}. Expected some "
                    f"of: {', '.join(known) or '(none)'}."
                )
        return constructor(**kwargs)

    def __getitem__(self, name: str) -> C:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self.names())})"


class Configurable:
    """scikit-learn's parameter contract.

    Subclasses take their hyperparameters as named ``__init__`` arguments (no ``**kwargs``)
    and keep each one, unchanged, as an attribute of the same name. Learned or per-call state
    lives elsewhere: in attributes ending with ``_`` (set by ``fit``) or in local variables.
    """

    @classmethod
    def param_names(cls) -> list[str]:
        """The constructor's parameter names, in order."""
        params = _parameters(cls.__init__)
        if params is None:
            raise TypeError(
                f"{cls.__name__}.__init__ takes **kwargs; name every parameter instead."
            )
        return [p.name for p in params]

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments: ``type(self)(**self.get_params())`` is an equal object."""
        return {k: getattr(self, k) for k in self.param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


@functools.cache
def registries() -> dict[str, Registry[Any]]:
    """Every registry of mudjack components, keyed by what it holds."""
    from mudjack.attacks import ATTACKS
    from mudjack.data.registry import DATASETS
    from mudjack.downstream.baselines import CLIENT_PATCHERS
    from mudjack.encoders.registry import ENCODERS
    from mudjack.patching.base import PATCHERS
    from mudjack.reverse.reverser import REVERSERS
    from mudjack.triggers.base import TRIGGERS

    return {
        "encoder": ENCODERS,
        "patcher": PATCHERS,
        "client-patcher": CLIENT_PATCHERS,
        "reverser": REVERSERS,
        "attack": ATTACKS,
        "trigger": TRIGGERS,
        "dataset": DATASETS,
    }
