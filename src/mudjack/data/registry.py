"""Name -> loader registry of the named offline data sets: ``DATASETS.create("mnist5k")``.

``load_downstream`` and ``load_pretraining`` cut these into a task's splits (and also take
paths); this registry names the loaders themselves, each with its own arguments."""

from __future__ import annotations

from typing import Any

from mudjack.data.images import load_fashion_mnist, load_mnist5k, load_sklearn_digits
from mudjack.data.text import load_convention, load_rotten_tomatoes, load_wordnet
from mudjack.registry import Registry

DATASETS: Registry[Any] = Registry("data set")
for _name, _loader in {
    "fashion_mnist": load_fashion_mnist,
    "mnist5k": load_mnist5k,
    "sklearn_digits": load_sklearn_digits,
    "wordnet": load_wordnet,
    "rotten_tomatoes": load_rotten_tomatoes,
    "convention": load_convention,
}.items():
    DATASETS.register(_name)(_loader)
