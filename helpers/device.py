"""Pick the compute device: CUDA, then Apple MPS, then CPU, unless told otherwise."""
from __future__ import annotations

import torch


def pick_device(name: str | None = None) -> torch.device:
    """``name`` ('cuda', 'mps', 'cpu', 'cuda:1', ...) or None/'auto' for the best available.

    An explicit name that is not available raises a ValueError saying what is.
    """
    if name in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"unknown device {name!r}: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available; use 'cpu' or 'auto'")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} requested but Apple MPS is not available; use 'cpu' or 'auto'")
    return device


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (random calls need a same-device one)."""
    return torch.Generator(device=device).manual_seed(seed)
