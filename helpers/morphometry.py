"""Measuring a handwritten digit: stroke thickness, slant, width and height (Morpho-MNIST).

Castro et al. (2019), "Morpho-MNIST", measure digits on their binarised shape:

- **thickness** = area / length: the number of ink pixels over the number of pixels of
  the digit's skeleton, its one-pixel-wide centre line. A stroke t pixels thick and L long
  has area about t L and a skeleton about L long.
- **slant**: the horizontal shear that would make the digit upright, from its second
  image moments: ``slant = -mu11 / mu02`` with x to the right and y (the row) downwards;
  positive leans right (the top of the digit is further right than its bottom).
- **width**, **height**: the sides of the bounding box of the ink, in pixels.

The skeleton comes from Guo and Hall's two-subiteration thinning (1989), the algorithm of
``skimage.morphology.thin``, written here in torch so that a whole batch thins at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ATTRIBUTES_FILE = Path(__file__).with_name("mnist_attributes.npz")    # experiments/mnist_attributes.py writes it
ATTRIBUTES = ("thickness", "slant", "width", "height", "length")
THRESHOLD = 0.0           # ink: pixels above mid-grey of images in [-1, 1]
# weights of the 8 neighbours in a 3x3 window: bit k is neighbour k counted anticlockwise from east
_NEIGHBOUR_WEIGHTS = torch.tensor([[8, 4, 2], [16, 0, 1], [32, 64, 128]], dtype=torch.float32)


def _bits(n: int) -> list[bool]:
    return [bool(n >> i & 1) for i in range(8)]


def _g1(b: list[bool]) -> bool:
    """Exactly one 4-connected run of ink among the neighbours: the pixel joins two parts otherwise."""
    return sum(1 for i in (0, 2, 4, 6) if not b[i] and (b[i + 1] or b[(i + 2) % 8])) == 1


def _g2(b: list[bool]) -> bool:
    """The pixel is not an end point and not inside a solid region."""
    n1 = sum(1 for k in (1, 3, 5, 7) if b[k] or b[k - 1])
    n2 = sum(1 for k in (1, 3, 5, 7) if b[k] or b[(k + 1) % 8])
    return min(n1, n2) in (2, 3)


def thinning_tables() -> tuple[torch.Tensor, torch.Tensor]:
    """The deletion look-up tables (256,) bool of the two subiterations, indexed by the neighbour code.

    First subiteration: delete where G1, G2 and G3 hold (G3: not a north-east boundary
    pixel's wrong side); second: G1, G2 and G3' (the same turned by 180 degrees).
    """
    g3 = [not ((b[1] or b[2] or not b[7]) and b[0]) for b in map(_bits, range(256))]
    g3p = [not ((b[5] or b[6] or not b[3]) and b[4]) for b in map(_bits, range(256))]
    g12 = [_g1(b) and _g2(b) for b in map(_bits, range(256))]
    return (torch.tensor([a and c for a, c in zip(g12, g3)]), torch.tensor([a and c for a, c in zip(g12, g3p)]))


_TABLES = thinning_tables()


def binarise(images: torch.Tensor, threshold: float = THRESHOLD) -> torch.Tensor:
    """Images (N, 1, H, W) or (N, H, W) in [-1, 1] -> ink mask (N, H, W) bool."""
    if images.ndim == 4:
        if images.shape[1] != 1:
            raise ValueError(f"binarise needs grey images (N, 1, H, W), got {tuple(images.shape)}")
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(f"binarise needs images (N, 1, H, W) or (N, H, W), got {tuple(images.shape)}")
    return images > threshold


def skeleton(mask: torch.Tensor, max_iter: int = 100) -> torch.Tensor:
    """Guo-Hall thinning of a batch of masks (N, H, W) bool -> skeletons (N, H, W) bool.

    Same result as ``skimage.morphology.thin`` on each mask; stops when no pixel changes.
    """
    skel = mask.float().unsqueeze(1)
    weights = _NEIGHBOUR_WEIGHTS.view(1, 1, 3, 3).to(skel.device)
    tables = [t.to(skel.device) for t in _TABLES]
    for _ in range(max_iter):
        before = skel.sum()
        for table in tables:
            code = F.conv2d(skel, weights, padding=1).long()        # neighbour code 0..255
            skel = skel * (~table[code]).float()
        if skel.sum() == before:
            break
    return skel.squeeze(1).bool()


def slant(mask: torch.Tensor) -> torch.Tensor:
    """Horizontal shear -mu11 / mu02 of masks (N, H, W) -> (N,); positive leans right, 0 for empty masks."""
    m = mask.float()
    h, w = m.shape[-2:]
    y = torch.arange(h, dtype=m.dtype, device=m.device).view(1, h, 1)
    x = torch.arange(w, dtype=m.dtype, device=m.device).view(1, 1, w)
    area = m.sum(dim=(1, 2)).clamp(min=1)
    xbar, ybar = (m * x).sum(dim=(1, 2)) / area, (m * y).sum(dim=(1, 2)) / area
    dx, dy = x - xbar.view(-1, 1, 1), y - ybar.view(-1, 1, 1)
    mu11, mu02 = (m * dx * dy).sum(dim=(1, 2)), (m * dy * dy).sum(dim=(1, 2))
    return torch.where(mu02 > 0, -mu11 / mu02.clamp(min=1e-8), torch.zeros_like(mu02))


def box_size(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Width and height (N,), (N,) of the bounding box of the ink of masks (N, H, W); 0 when empty."""
    def extent(any_ink: torch.Tensor) -> torch.Tensor:             # (N, L) bool -> (N,)
        idx = torch.arange(any_ink.shape[1], device=any_ink.device)
        lo = torch.where(any_ink, idx, any_ink.shape[1]).min(dim=1).values
        hi = torch.where(any_ink, idx, -1).max(dim=1).values
        return (hi - lo + 1).clamp(min=0).float()
    return extent(mask.any(dim=1)), extent(mask.any(dim=2))


def measure(images: torch.Tensor, batch_size: int = 2000) -> dict[str, torch.Tensor]:
    """Morpho-MNIST measurements of images (N, 1, H, W) in [-1, 1]: a dict of (N,) float tensors
    named as in :data:`ATTRIBUTES` (thickness = ink area / skeleton length, in pixels)."""
    parts = {name: [] for name in ATTRIBUTES}
    for lo in range(0, len(images), batch_size):
        mask = binarise(images[lo:lo + batch_size])
        length = skeleton(mask).sum(dim=(1, 2)).float()
        width, height = box_size(mask)
        parts["thickness"].append(mask.sum(dim=(1, 2)).float() / length.clamp(min=1))
        parts["slant"].append(slant(mask))
        parts["width"].append(width)
        parts["height"].append(height)
        parts["length"].append(length)
    return {name: torch.cat(v) if v else torch.zeros(0) for name, v in parts.items()}


@dataclass
class DigitAttributes:
    """The committed measurements of all 70,000 MNIST digits.

    values: float32 (70000, 5), columns as in :data:`ATTRIBUTES`; labels: int64 (70000,);
    rows 0..59,999 are the training digits, 60,000..69,999 the test digits, in MNIST's order.
    """

    values: torch.Tensor
    labels: torch.Tensor
    n_train: int = 60_000

    def column(self, name: str) -> torch.Tensor:
        """One attribute (70000,) by name."""
        if name not in ATTRIBUTES:
            raise KeyError(f"unknown attribute {name!r}; expected one of {ATTRIBUTES}")
        return self.values[:, ATTRIBUTES.index(name)]

    def split(self, train: bool) -> "DigitAttributes":
        """The rows of the training split (60,000) or the test split (10,000)."""
        rows = slice(0, self.n_train) if train else slice(self.n_train, None)
        return DigitAttributes(self.values[rows], self.labels[rows], self.n_train if train else 0)


def load_attributes(path: str | Path = ATTRIBUTES_FILE) -> DigitAttributes:
    """Read the attributes file written by ``python -m experiments.mnist_attributes``."""
    with np.load(path) as f:
        if tuple(f["names"]) != ATTRIBUTES:
            raise ValueError(f"{path} holds attributes {tuple(f['names'])}, expected {ATTRIBUTES}; regenerate it")
        return DigitAttributes(torch.from_numpy(f["attributes"].astype(np.float32)),
                               torch.from_numpy(f["labels"].astype(np.int64)), int(f["n_train"]))
