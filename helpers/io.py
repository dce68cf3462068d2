"""Files: the one atomic writer, checkpoints, samples files (both halves) and results files.

Everything the course writes goes through :func:`atomic_write`: a temporary file in the
same folder, then a rename, so a crash mid-write leaves the previous file intact.

- A **checkpoint** is a dict saved with ``torch.save``: ``format`` (an int, bumped on
  changes), ``config`` (Config.to_dict()), ``model`` and ``ema`` (state dicts),
  ``optimizer``, ``step``, ``elapsed_s``, ``losses`` and ``rng`` (what resuming needs). A
  distilled student (:mod:`helpers.distillation`) also has ``chain``: the timesteps it samples
  on, which :func:`load_model` makes its diffusion.
- A **samples file** is ``{'images': uint8 (N, C, H, W), 'labels': (N,) or None, 'meta': dict}``
  with a PNG preview of its first 100 images beside it.
- A **results file** is JSON: one object of named parts (:func:`update_json`) or one record
  per line (:func:`append_jsonl`).
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

try:
    import fcntl                      # POSIX file locks; on Windows concurrent writers are not guarded
except ImportError:                   # pragma: no cover
    fcntl = None

import torch
import torchvision

from .config import Config, config_for_dataset
from .prediction import NoiseFrom
from .schedule import Diffusion, diffusion_from_config
from .unet import UNet, unet_from_config

ROOT_VARIABLE = "DDPM_COURSE_ROOT"


def find_root() -> tuple[Path, bool]:
    """The course's folder (models/, results/, notebooks/) and whether it was found.

    ``$DDPM_COURSE_ROOT`` when set, else the checkout this package sits in. An installed package
    with neither returns its own parent and False: files under it then fail with a hint.
    """
    if os.environ.get(ROOT_VARIABLE):
        root = Path(os.environ[ROOT_VARIABLE]).expanduser().resolve()
        return root, (root / "models").is_dir()
    root = Path(__file__).resolve().parents[1]
    return root, (root / "models").is_dir()


ROOT, ROOT_FOUND = find_root()   # models/, results/, checkpoints/ are here
FORMAT = 1
REQUIRED = ("format", "config", "model")
PREVIEW = 100          # images in the PNG beside a samples file, 10 per row
REFERENCE_MODELS = {"mnist": "models/ddpm_reference.pt", "fashion": "models/fashion_reference.pt"}


def reference_model(dataset: str = "mnist") -> Path:
    """The committed reference model of ``dataset`` (a clear error where the course has none)."""
    if dataset not in REFERENCE_MODELS:
        raise CheckpointError(f"the course commits reference models for {sorted(REFERENCE_MODELS)}, not {dataset!r}"
                              + ("; the colour notebook trains a CIFAR-10 model" if dataset == "cifar10" else ""))
    return ROOT / REFERENCE_MODELS[dataset]


def _not_found_hint(path: Path) -> str:
    """Why a course file is missing when the package runs without the course's folder."""
    if ROOT_FOUND or not path.resolve().is_relative_to(ROOT):
        return ""
    return (f"; the course's files (models/, results/) were not found: helpers runs from {ROOT} without a checkout "
            f"of the course; clone it and set {ROOT_VARIABLE} to its folder (or pip install -e the clone)")


def results_dir(dataset: str = "mnist") -> Path:
    """Where the measurements of a data set's reference model live: results/ (MNIST), results/<dataset>/."""
    return ROOT / "results" if dataset == "mnist" else ROOT / "results" / dataset


class CheckpointError(RuntimeError):
    """A file is missing, unreadable or not what was expected; the message is one line."""


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    The folder is created if needed; the temporary file never outlives the call.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        _fsync(tmp)                   # the bytes reach the disk before the name points at them
        os.replace(tmp, path)
        _fsync(path.parent)           # and the rename itself survives a power cut
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's) data to the disk; folders that cannot be opened are skipped (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:                   # some file systems cannot fsync a folder
        pass
    finally:
        os.close(fd)


@contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on the folder of ``path`` while inside, so that read-modify-write of a
    results file by several processes at once (parallel workers) loses nothing; no lock file is left."""
    folder = Path(path).parent
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)                  # closing releases the lock


def save_json(obj, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON, atomically; returns the path."""
    text = json.dumps(obj, indent=1, default=float) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def update_json(path: str | os.PathLike, key: str, value) -> Path:
    """Set part ``key`` of the JSON object in ``path`` (created if missing) to ``value``, atomically."""
    path = Path(path)
    with locked(path):
        everything = json.loads(path.read_text()) if path.exists() else {}
        everything[key] = value
        return save_json(everything, path)


def append_jsonl(record: dict, path: str | os.PathLike) -> Path:
    """Append ``record`` as one JSON line to ``path`` (created if missing), atomically, and safely when
    several processes append to the same file at once."""
    path = Path(path)
    line = json.dumps(record, default=float) + "\n"
    with locked(path):
        before = path.read_text() if path.exists() else ""
        return atomic_write(path, lambda tmp: tmp.write_text(before + line))


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write the checkpoint dict ``state`` (see the module docstring) atomically; returns the path."""
    return atomic_write(path, lambda tmp: torch.save({"format": FORMAT, **state}, tmp))


def read_torch_file(path: str | os.PathLike, what: str = "checkpoint", hint: str = "",
                    map_location: str | torch.device = "cpu"):
    """``torch.load(path, weights_only=True)``, or a one-line :class:`CheckpointError`.

    what: how to name the file in the message ("checkpoint", "samples file", ...);
    hint: appended to the "does not exist" message (e.g. how to make one).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist{hint}{_not_found_hint(path)}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for a damaged file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        first = "torch cannot read it" if first.startswith("Weights only load failed") else first
        raise CheckpointError(f"{what} {path} is corrupt or not a torch file ({first[:200]})") from None


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint dict with its ``config`` as a :class:`Config`; errors name the file and problem."""
    path = Path(path)
    state = read_torch_file(path, "checkpoint", map_location=map_location)
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED):
        raise CheckpointError(f"checkpoint {path} lacks the keys {list(REQUIRED)}; was it written "
                              "by helpers.io.save_checkpoint?")
    if state["format"] > FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {state['format']}, newer than this "
                              f"code ({FORMAT}); update the repository")
    try:
        state["config"] = Config.from_dict(state["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} has an invalid config: {e}") from None
    return state


def _shape(config: Config) -> str:
    return f"{config.channels} x {config.image_size} x {config.image_size}"


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", use_ema: bool = True,
               dataset: str | None = None) -> tuple[UNet, Diffusion, Config]:
    """Rebuild the model and schedule stored in ``path``; EMA weights when present and ``use_ema``.

    ``dataset`` (optional): the data set the caller wants images of; a checkpoint trained on
    another is a :class:`CheckpointError` naming both and their image shapes.
    Returns (model in eval mode on ``device``, diffusion, config); a DDPM network trained to predict
    x0 or v comes wrapped as a noise predictor (:class:`helpers.prediction.NoiseFrom`); a text model carries
    its frozen CLIP as ``model.text_encoder`` (:mod:`helpers.text_condition`); for a distilled student the
    diffusion is its short chain (sample it with ``sampler="ddim"``, every step of it).
    """
    state = load_checkpoint(path, map_location=device)
    config = state["config"]
    if dataset is not None and config.dataset != dataset:
        wanted = config_for_dataset(dataset)
        raise CheckpointError(f"{path} was trained on {config.dataset} ({_shape(config)} images), so it cannot "
                              f"make {dataset} images ({_shape(wanted)}); train one with "
                              f"'python -m helpers train --dataset {dataset} --out ...'")
    model = unet_from_config(config).to(device, memory_format=torch.channels_last)  # as in training
    weights = state["ema"] if use_ema and state.get("ema") is not None else state["model"]
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path} does not match its own config "
                              f"({str(e).splitlines()[0][:200]})") from None
    if config.condition == "text":      # the frozen CLIP it was trained with, outside its state dict
        from .text_condition import load_text_encoder
        model.text_encoder = load_text_encoder(config.clip, state.get("clip_sha256"))
    diffusion = diffusion_from_config(config)
    if config.method == "ddpm" and config.prediction != "eps":           # the samplers take eps
        model = NoiseFrom(model, config.prediction, diffusion.alpha_bar).to(device)
    if state.get("chain") is not None:
        diffusion = diffusion.subset(torch.as_tensor(state["chain"]))
    return model.eval(), diffusion, config


def describe_model(path: str | os.PathLike) -> str:
    """One line on a model file: its name, training steps, minutes of training, and what it is conditioned on.

    The machine is left out: a notebook says once where its committed numbers were measured, and
    the .json record beside the model keeps it.
    """
    state = load_checkpoint(path)
    return (f"{Path(path).name}: {state['step']:,} training steps, {state.get('elapsed_s', 0) / 60:.0f} minutes, "
            f"{_conditioning(state['config'])}")


def _conditioning(config: Config) -> str:
    """'text-conditional', 'class-conditional' or 'unconditional'."""
    return ("text-conditional" if config.condition == "text" else
            "class-conditional" if config.conditional else "unconditional")


def slim_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, extra: dict | None = None) -> Path:
    """Copy ``src`` without optimiser and random state (for sharing; it can no longer resume).

    Keeps config, weights, EMA weights, step, elapsed time, the loss history and a distilled
    student's chain; ``extra`` entries (e.g. provenance) are added. Returns ``dst``.
    """
    state = load_checkpoint(src)
    keep = {k: state[k] for k in ("model", "ema", "step", "elapsed_s", "losses", "chain", "distilled",
                                     "clip_sha256") if k in state}
    return save_checkpoint({**keep, "config": state["config"].to_dict(), **(extra or {})}, dst)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 0..255, same shape, on the CPU."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


def save_samples(images: torch.Tensor, labels: torch.Tensor | None, path: str | os.PathLike,
                 meta: dict | None = None) -> Path:
    """Write a samples file (images (N, C, H, W) in [-1, 1], labels (N,) or None) and its PNG preview.

    The preview, ``path`` with the suffix ``.png``, shows the first 100 images, 10 per row.
    Returns the .pt path.
    """
    images8 = to_uint8(images)
    data = {"images": images8, "labels": None if labels is None else labels.cpu(), "meta": meta or {}}
    path = atomic_write(path, lambda tmp: torch.save(data, tmp))
    preview = images8[:PREVIEW].float() / 255
    atomic_write(path.with_suffix(".png"), lambda tmp: torchvision.utils.save_image(
        preview, tmp, nrow=min(10, len(preview)), padding=2, format="png"))
    return path


def load_samples(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """Read a samples file: (images uint8 (N, C, H, W), labels (N,) or None, meta dict).

    Raises :class:`CheckpointError` (missing, unreadable or not a samples file), naming the file.
    """
    data = read_torch_file(path, "samples file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), torch.Tensor) \
            or data["images"].dtype != torch.uint8 or data["images"].ndim != 4:
        raise CheckpointError(f"{path} is not a samples file: expected a dict with 'images' (uint8, "
                              "N x C x H x W) and 'labels', as written by 'python -m helpers sample'")
    return data["images"], data.get("labels"), dict(data.get("meta") or {})
