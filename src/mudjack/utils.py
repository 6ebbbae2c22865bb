"""Small shared helpers: seeding, devices, atomic writes, hashing, batching."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from mudjack.errors import InputError, OutputExistsError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """Return a ``torch.Generator`` seeded with ``seed`` (no global state is touched)."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise InputError(f"Expected an integer seed, got {seed!r} of type {type(seed).__name__}.")
    gen = torch.Generator(device=str(device))
    gen.manual_seed(seed)
    return gen


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's global RNG seeded, restoring the caller's RNG state after.

    For code that can only draw from the global RNG (parameter initialisation, dropout).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` into a device, checking that it
    exists on this machine.

    Raises:
        InputError: for an unknown device name, a CUDA device on a machine without CUDA, a
            CUDA index beyond the visible devices, or MPS where it is not available.
    """
    name = str(device or "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise InputError(
            f"Expected a device 'cpu', 'cuda' or 'cuda:N', got {name!r}. Pass --device cpu, or "
            "--device cuda on a machine with an NVIDIA GPU."
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(
                f"Expected an available device, got {name!r} but CUDA is not available on this "
                "machine. Pass --device cpu."
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise InputError(
                f"Expected a CUDA device index below {count} (this machine has {count} CUDA "
                f"device{'s' if count != 1 else ''}), got {name!r}. Pass --device cuda:0, or "
                "cuda:N with N from 0 to the count minus one."
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise InputError(
                f"Expected an available device, got {name!r} but MPS is not available on this "
                "machine. Pass --device cpu."
            )
    elif dev.type != "cpu":
        raise InputError(
            f"Expected a device 'cpu', 'cuda' or 'cuda:N', got {name!r}; mudjack does not run "
            f"on {dev.type!r} devices. Pass --device cpu or --device cuda."
        )
    return dev


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_tensors(*tensors: torch.Tensor) -> str:
    """Hex SHA-256 over the raw bytes of tensors (used to identify bug instances)."""
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def ensure_new_path(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Raise if ``path`` exists: mudjack never overwrites a user's file or folder."""
    p = Path(path)
    if p.exists():
        raise OutputExistsError(
            f"Expected a new {what} path, but {str(p)!r} already exists. mudjack never overwrites "
            "files; choose another path or remove the old one yourself."
        )
    return p


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], what: str = "output folder") -> Iterator[Path]:
    """Write a folder atomically: yield a temporary sibling, rename it into place on success.

    Raises :class:`OutputExistsError` if ``path`` exists before or appears during the write.
    """
    final = ensure_new_path(path, what)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the usual folder mode
    try:
        yield tmp
        ensure_new_path(final, what)
        os.replace(tmp, final)
    except BaseException:
        for child in sorted(tmp.rglob("*"), reverse=True):
            child.unlink() if child.is_file() else child.rmdir()
        if tmp.exists():
            tmp.rmdir()
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str, overwrite: bool = False) -> Path:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    p = Path(path)
    if not overwrite:
        ensure_new_path(p, "file")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return p


def write_json_atomic(path: str | os.PathLike[str], obj: Any, overwrite: bool = False) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n", overwrite)


def check_schedule(
    epochs: int, batch_size: int, lr: float, *, min_batch: int = 1, unit: str = "epochs"
) -> None:
    """Raise :class:`InputError` unless ``epochs`` (or steps: ``unit``) >= 1, ``batch_size`` >=
    ``min_batch`` and ``lr`` is a finite number > 0."""
    if epochs < 1 or batch_size < min_batch or not (math.isfinite(lr) and lr > 0):
        raise InputError(
            f"Expected {unit} >= 1, batch_size >= {min_batch} and a finite lr > 0, got {epochs}, "
            f"{batch_size}, {lr}. Pass positive values (e.g. lr=1e-3)."
        )


def check_range(value: float, name: str, lo: float = 0.0, hi: float = 1.0) -> float:
    """Raise :class:`InputError` unless ``value`` is a finite number in ``[lo, hi]``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not (math.isfinite(value) and lo <= value <= hi):
        raise InputError(
            f"Expected {name} to be a finite number in [{lo:g}, {hi:g}], got {value!r}. Pass a "
            f"value in that range (e.g. {(lo + hi) / 2:g})."
        )
    return value


def batched(n: int, batch_size: int) -> Iterator[slice]:
    """Yield slices covering ``range(n)`` in chunks of ``batch_size``."""
    if batch_size <= 0:
        raise InputError(f"Expected a positive batch size, got {batch_size}.")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def take(inputs: Any, index: torch.Tensor) -> Any:
    """Rows ``index`` of a batch of inputs: an image tensor or a list of strings."""
    if isinstance(inputs, torch.Tensor):
        return inputs[index.to(inputs.device)]
    return [inputs[int(i)] for i in index]


def trainable(*modules: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters of ``modules`` that an optimiser updates (``requires_grad``), in order."""
    return [p for m in modules for p in m.parameters() if p.requires_grad]


def concat_inputs(*parts: Any) -> Any:
    """Concatenate batches of inputs of one kind (image tensors or lists of strings)."""
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(parts)
    return [x for p in parts for x in p]
