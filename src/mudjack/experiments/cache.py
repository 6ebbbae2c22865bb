"""What the experiments of one process share: prepared settings, D_val pools, patched
encoders and measured arms."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from mudjack.data import load_pretraining
from mudjack.experiments.prepared import Prepared, prepare
from mudjack.experiments.settings import Setting


@dataclass(frozen=True)
class Shared:
    """A result kept for later arms: what it is, and which experiment computed it."""

    value: Any
    experiment: str


class RunCache:
    """Prepared settings, D_val pools, patches and measured arms, shared between experiments.

    Many tables have the same row: the default Mudjacking patch of the default setting on bug
    instances 0-2. ``mudjack reproduce`` passes one cache to every experiment it runs, so that
    row is patched and measured once per bug instance. Every random choice is seeded by the
    bug instance (the draw, the patch, the client re-trained to measure), so a shared result is
    the one the arm would compute again; results mark it (``patch_shared``, ``reused_from``).
    The keys say what an arm computes, not how it is spelt (see
    :func:`mudjack.experiments.arms.run_arm`).
    """

    def __init__(self) -> None:
        self._prepared: dict[Hashable, Prepared] = {}
        self._pools: dict[str, Any] = {}
        self._patches: dict[Hashable, Shared] = {}
        self._arms: dict[Hashable, Shared] = {}

    def prepare(self, setting: Setting, *, seed: int, device: Any, **kwargs: Any) -> Prepared:
        """:func:`~mudjack.experiments.prepared.prepare`, once per setting, seed and device."""
        key = (repr(sorted(setting.to_dict().items())), seed, str(device))
        if key not in self._prepared:
            self._prepared[key] = prepare(setting, seed=seed, device=device, **kwargs)
        return self._prepared[key]

    def pool(self, name: str) -> Any:
        """The pre-training set ``name`` (loaded once)."""
        if name not in self._pools:
            self._pools[name] = load_pretraining(name)
        return self._pools[name]

    def patch(self, key: Hashable) -> Shared | None:
        """The patch result stored under ``key``, if any."""
        return self._patches.get(key)

    def store_patch(self, key: Hashable, result: Any, experiment: str) -> None:
        """Keep a patch result (the first one stored under a key stays)."""
        self._patches.setdefault(key, Shared(result, experiment))

    def arm(self, key: Hashable) -> Shared | None:
        """A measured arm stored under ``key``: ``(results, patched encoder)``, if any."""
        return self._arms.get(key)

    def store_arm(self, key: Hashable, results: dict[str, Any], encoder: Any, experiment: str):
        """Keep a measured arm (the first one stored under a key stays)."""
        self._arms.setdefault(key, Shared((results, encoder), experiment))
