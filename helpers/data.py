"""MNIST, Fashion-MNIST and CIFAR-10 as in-memory tensors scaled to [-1, 1].

Where the data comes from, in order:

1. ``root`` passed explicitly, else the environment variable ``DDPM_DATA``,
   else a cache folder (``~/.cache/ddpm-course``). Any of torchvision's
   layouts works: the folder holding ``MNIST/`` (or ``cifar-10-batches-py/``),
   that folder itself, or MNIST's ``raw`` folder with the four IDX files.
2. Fashion-MNIST only: Debian's ``dataset-fashion-mnist`` files.
3. A download by torchvision, after a network check that fails in seconds.
4. Offline, with a one-line warning: for MNIST the 5,000 real MNIST digits
   shipped with this package (``mnist_5000.npz``: 450 per class for training,
   50 held out); for CIFAR-10 a generated stand-in of the same shape, ten
   classes of simple coloured pictures (:mod:`helpers.standin`), so that the
   course still runs.

The whole set is decoded once into a tensor: far faster on a CPU than a
DataLoader that converts one PIL image at a time.
"""
from __future__ import annotations

import functools
import gzip
import os
import shutil
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch.utils.data import DistributedSampler

from .config import DATASETS

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
_TV_CLASSES = {"mnist": torchvision.datasets.MNIST, "fashion": torchvision.datasets.FashionMNIST,
               "cifar10": torchvision.datasets.CIFAR10}
_TV_FOLDERS = ("MNIST", "FashionMNIST", torchvision.datasets.CIFAR10.base_folder)
# the offline fallback: the first 500 digits of each class of MNIST's training file, built by
# experiments/fallback_digits.py; 450 of each class for training, the other 50 held out
FALLBACK_DIGITS = Path(__file__).with_name("mnist_5000.npz")
FALLBACK_PER_CLASS = 500
FALLBACK_TRAIN_PER_CLASS = 450


class DataFallbackWarning(UserWarning):
    """The full data set was unavailable and a smaller one is used instead."""


@dataclass
class ImageSet:
    """A labelled image set held in memory.

    images: float32 (N, C, H, W) in [-1, 1]; labels: int64 (N,); source: where it came from;
    name: the data set it belongs to ('mnist', 'fashion', 'cifar10', or '' for anything else);
    train: True for its training split; generated: True for a generated stand-in (never full).
    """

    images: torch.Tensor
    labels: torch.Tensor
    source: str
    class_names: tuple[str, ...]
    name: str = ""
    train: bool = True
    generated: bool = False

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def is_full(self) -> bool:
        """True when this is the whole split of a known data set (60,000 MNIST training digits, ...)."""
        info = DATASETS.get(self.name)
        full_size = None if info is None else info.train_size if self.train else info.test_size
        return not self.generated and len(self) == full_size


def default_cache() -> Path:
    """Folder for downloaded data: ``$XDG_CACHE_HOME/ddpm-course`` or ``~/.cache/ddpm-course``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ddpm-course"


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """The torchvision root folder: explicit ``root``, else ``$DDPM_DATA``, else the cache.

    Accepts the root itself, its ``MNIST``/``FashionMNIST`` folder, or that folder's ``raw``,
    or the ``cifar-10-batches-py`` folder.
    """
    path = Path(root or os.environ.get("DDPM_DATA") or default_cache()).expanduser().resolve()
    if path.name == "raw" and path.parent.name in ("MNIST", "FashionMNIST"):
        return path.parent.parent
    if path.name in _TV_FOLDERS and ((path / "raw").is_dir() or (path / "batches.meta").is_file()):
        return path.parent
    return path


def _to_imageset(data, targets, source: str, name: str, train: bool) -> ImageSet:
    """uint8 (N, H, W) grey or (N, H, W, 3) colour (tensor or numpy) and labels -> ImageSet
    with float images (N, C, H, W) in [-1, 1]."""
    data = torch.as_tensor(data)
    data = data.unsqueeze(1) if data.ndim == 3 else data.permute(0, 3, 1, 2)
    images = data.float().div_(127.5).sub_(1.0).contiguous()
    return ImageSet(images, torch.as_tensor(targets).long(), source, DATASETS[name].classes, name, train)


def _try_torchvision(name: str, root: Path, train: bool, download: bool) -> ImageSet | None:
    """Load with torchvision from ``root``; None when the files are not there."""
    try:
        ds = _TV_CLASSES[name](str(root), train=train, download=download)
    except RuntimeError:        # torchvision: "Dataset not found. You can use download=True ..."
        return None
    return _to_imageset(ds.data, ds.targets, f"{ds.__class__.__name__} at {root}", name, train)


def _from_debian_fashion(train: bool, debian_dir: Path, cache: Path) -> ImageSet | None:
    """Unpack Debian's Fashion-MNIST .gz files into torchvision's layout under ``cache``."""
    if not (debian_dir / "train-images-idx3-ubyte.gz").exists():
        return None
    raw = cache / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for gz in debian_dir.glob("*-ubyte.gz"):
        target = raw / gz.name[:-3]
        if not target.exists():
            with gzip.open(gz, "rb") as src, open(f"{target}.tmp", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(f"{target}.tmp", target)
    out = _try_torchvision("fashion", cache, train, download=False)
    if out is not None:
        out.source = f"Debian dataset-fashion-mnist ({debian_dir})"
    return out


@functools.lru_cache(maxsize=None)
def network_available(name: str = "mnist", timeout: float = 3.0) -> bool:
    """True if a TCP connection to one of torchvision's mirrors (CIFAR-10: its one URL) opens
    within ``timeout`` s. Remembered for the rest of the process (``network_available.cache_clear()`` forgets).
    """
    dataset = _TV_CLASSES[name]
    for mirror in getattr(dataset, "mirrors", None) or [dataset.url]:
        url = urlparse(mirror)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            socket.create_connection((url.hostname, port), timeout=timeout).close()
            return True
        except OSError:
            continue
    return False


def fallback_digits(train: bool = True) -> ImageSet:
    """The 5,000 real MNIST digits shipped with this package (500 per class, stored sorted by class).

    Split per class: the first 450 of each class for training, the last 50 held out.
    """
    import numpy as np

    with np.load(FALLBACK_DIGITS) as f:
        data, targets = torch.from_numpy(f["images"]), torch.from_numpy(f["labels"]).long()
    rank = torch.arange(len(targets)) - torch.searchsorted(targets, targets)   # position within its class
    keep = rank < FALLBACK_TRAIN_PER_CLASS if train else rank >= FALLBACK_TRAIN_PER_CLASS
    split = "train" if train else "held-out"
    return _to_imageset(data[keep], targets[keep], f"the package's 5,000 MNIST digits ({split} part)", "mnist", train)


def load_images(name: str = "mnist", train: bool = True, root: str | os.PathLike | None = None,
                download: bool = True, debian_dir: Path = DEBIAN_FASHION_DIR) -> ImageSet:
    """Load ``name`` ('mnist', 'fashion' or 'cifar10'), training or test split, as an :class:`ImageSet`.

    See the module docstring for where the data is looked for. Offline, MNIST falls back
    to the package's 5,000 digits and CIFAR-10 to :func:`helpers.standin.standin_cifar10`, each with a
    :class:`DataFallbackWarning`.
    """
    if name not in _TV_CLASSES:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(_TV_CLASSES)}")
    base = resolve_root(root)
    found = _try_torchvision(name, base, train, download=False)
    if found is None and name == "fashion":
        found = _from_debian_fashion(train, debian_dir, default_cache())
    if found is None and download and network_available(name):
        target = base if os.access(base if base.exists() else base.parent, os.W_OK) else default_cache()
        found = _try_torchvision(name, target, train, download=True)
    if found is not None:
        return found
    if name == "mnist":
        warnings.warn(
            f"full MNIST not found in {base} and no network: using the package's 5,000 real digits "
            "instead; for all 70,000, run once with internet access or set DDPM_DATA to a folder "
            "holding MNIST/raw", DataFallbackWarning, stacklevel=2)
        return fallback_digits(train)
    if name == "cifar10":
        from .standin import standin_cifar10    # here: helpers.standin imports this module
        standin = standin_cifar10(train)
        warnings.warn(
            f"CIFAR-10 not found in {base} and no network: using a generated stand-in instead "
            f"({len(standin):,} pictures of ten kinds of coloured shapes, not photographs); for the real "
            "data, run once with internet access or set DDPM_DATA to a folder holding cifar-10-batches-py",
            DataFallbackWarning, stacklevel=2)
        return standin
    raise FileNotFoundError(
        f"Fashion-MNIST not found in {base} or {debian_dir}, and no network to download it: "
        "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "
        "or run once with internet access")


def epoch_order(n: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> torch.Tensor:
    """Shuffled indices for one epoch, a pure function of (seed, epoch): resumable.

    One process (``world`` = 1) gets all n indices; process ``rank`` of ``world`` gets its
    share, every ``world``-th of the same order (``DistributedSampler``'s split).
    """
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed * 100_003)
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler))
