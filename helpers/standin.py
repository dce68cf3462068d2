"""A generated stand-in for CIFAR-10: ten classes of simple coloured pictures, made offline.

:func:`helpers.data.load_images` falls back to it when CIFAR-10 is neither on disk nor
downloadable, so that notebook 08 still runs; its images are marked ``generated`` (never full).
"""
from __future__ import annotations

import math

import torch

from .data import ImageSet

STANDIN_PER_CLASS = {True: 2000, False: 500}    # images per class (train, test)
STANDIN_CLASSES = ("red disc", "green square", "blue triangle", "yellow ring", "magenta diamond",
                   "white cross", "cyan stripes", "orange checks", "sky over ground", "two dark dots")

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
