"""Where a run happens: the compute device, its random generators, its hardware, its progress bars."""
from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm


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


def _cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device | str) -> dict:
    """Where a run happened: device name, CPU, thread count, torch version, platform."""
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return {"device": str(device), "device_name": name, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": str(torch.__version__),
            "platform": platform.platform()}


def provenance(device: torch.device | str, command: str) -> dict:
    """Where and when a result was made: ``command``, ``hardware`` (see :func:`hardware`) and ``date``."""
    return {"command": command, "hardware": hardware(device), "date": datetime.date.today().isoformat()}


class _LogLines:
    """A file-like target for tqdm that writes each refresh as its own line (for log files)."""

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip()
        if text:
            print(text, file=sys.stderr, flush=True)

    def flush(self) -> None:
        sys.stderr.flush()


def _in_notebook() -> bool:
    """True inside a Jupyter (or Colab) kernel, whose shell has a kernel attached."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def progress_bar(total: int | None = None, desc: str = "", enabled: bool = True, unit: str = "step",
                 **kwargs) -> tqdm:
    """A tqdm bar where someone watches (a terminal or a notebook); in a log file, one line a minute."""
    if not enabled or sys.stderr.isatty() or _in_notebook():
        return tqdm(total=total, desc=desc, disable=not enabled, unit=unit, **kwargs)
    return tqdm(total=total, desc=desc, unit=unit, file=_LogLines(), mininterval=60, **kwargs)
