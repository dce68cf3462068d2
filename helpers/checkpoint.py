"""Checkpoint I/O: atomic saves, loads that say what went wrong, models rebuilt from their config.

A checkpoint is a dict saved with ``torch.save``:
``config`` (Config.to_dict()), ``model`` (state dict), ``ema`` (state dict or None),
``optimizer``, ``step``, ``elapsed_s``, ``losses`` (list of floats),
``rng`` (state of the training generator), ``format`` (an int, bumped on changes).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .config import Config
from .schedule import Diffusion, diffusion_from_config
from .unet import UNet, unet_from_config

FORMAT = 1
REQUIRED = ("format", "config", "model")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable or does not match what was expected."""


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically: a temp file in the same folder, then a rename.

    A crash mid-write leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save({"format": FORMAT, **state}, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_json(obj, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON atomically (temporary file, then rename); returns the path.

    For the small result files under results/: a crash mid-write never leaves half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=float) + "\n")
    os.replace(tmp, path)
    return path


def read_torch_file(path: str | os.PathLike, what: str = "checkpoint", hint: str = "",
                    map_location: str | torch.device = "cpu"):
    """``torch.load(path, weights_only=True)``, or a one-line :class:`CheckpointError`.

    what: how to name the file in the message ("checkpoint", "samples file", ...);
    hint: appended to the "does not exist" message (e.g. how to make one).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist{hint}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for a damaged file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        first = "torch cannot read it" if first.startswith("Weights only load failed") else first
        raise CheckpointError(f"{what} {path} is corrupt or not a torch file ({first[:200]})") from None


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint dict, raising :class:`CheckpointError` that names the file and problem."""
    path = Path(path)
    state = read_torch_file(path, "checkpoint", map_location=map_location)
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED):
        raise CheckpointError(f"checkpoint {path} lacks the keys {list(REQUIRED)}; was it written "
                              "by helpers.checkpoint.save_checkpoint?")
    if state["format"] > FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {state['format']}, newer than this "
                              f"code ({FORMAT}); update the repository")
    try:
        state["config"] = Config.from_dict(state["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} has an invalid config: {e}") from None
    return state


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu",
               use_ema: bool = True) -> tuple[UNet, Diffusion, Config]:
    """Rebuild the model and schedule stored in ``path``; EMA weights when present and ``use_ema``.

    Returns (model in eval mode on ``device``, diffusion, config).
    """
    state = load_checkpoint(path, map_location=device)
    config = state["config"]
    model = unet_from_config(config).to(device, memory_format=torch.channels_last)  # as in training
    weights = state["ema"] if use_ema and state.get("ema") is not None else state["model"]
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path} does not match its own config "
                              f"({str(e).splitlines()[0][:200]})") from None
    return model.eval(), diffusion_from_config(config), config


def first_existing(*paths: str | os.PathLike) -> Path | None:
    """The first of ``paths`` that is a file (e.g. your own checkpoint, then the reference), else None."""
    for p in paths:
        if p is not None and Path(p).is_file():
            return Path(p)
    return None


def slim_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, extra: dict | None = None) -> Path:
    """Copy ``src`` without optimiser and random state (for sharing; it can no longer resume).

    Keeps config, weights, EMA weights, step, elapsed time and the loss history; ``extra``
    entries (e.g. provenance) are added. Written atomically. Returns ``dst``.
    """
    state = load_checkpoint(src)
    keep = {k: state[k] for k in ("model", "ema", "step", "elapsed_s", "losses") if k in state}
    keep["config"] = state["config"].to_dict()
    return save_checkpoint({**keep, **(extra or {})}, dst)
