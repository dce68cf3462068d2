"""Morpho-MNIST measurements: drawn strokes of known thickness and shear, skimage's thinning, the committed file."""
import pytest
import torch
import torch.nn.functional as F

from helpers.data import FALLBACK_TRAIN_PER_CLASS
from helpers.morphometry import ATTRIBUTES, ATTRIBUTES_FILE, binarise, box_size, load_attributes, measure, skeleton


def bar(thickness: int, length: int = 16, vertical: bool = True) -> torch.Tensor:
    """A straight stroke (1, 1, 28, 28) in [-1, 1]: a rectangle of ``thickness`` x ``length`` pixels, centred."""
    img = -torch.ones(1, 1, 28, 28)
    lo, top = 14 - thickness // 2, 14 - length // 2
    if vertical:
        img[..., top:top + length, lo:lo + thickness] = 1
    else:
        img[..., lo:lo + thickness, top:top + length] = 1
    return img


def shear(images: torch.Tensor, s: float) -> torch.Tensor:
    """Images (N, 1, 28, 28) sheared so that a vertical line leans right by s pixels per pixel of height."""
    theta = torch.tensor([[1.0, s, 0.0], [0.0, 1.0, 0.0]]).expand(len(images), 2, 3)
    grid = F.affine_grid(theta, images.shape, align_corners=False)
    return F.grid_sample(images, grid, mode="nearest", padding_mode="border", align_corners=False)


@pytest.mark.parametrize("thickness", [1, 2, 3, 4])
def test_a_straight_bar_measures_its_own_thickness(thickness):
    for vertical in (True, False):
        m = measure(bar(thickness, 24, vertical))
        # the skeleton stops short of each end by about half the stroke: between L - t and L pixels
        assert 24 - thickness <= m["length"].item() <= 24
        assert m["thickness"].item() == pytest.approx(thickness, rel=0.2), (thickness, vertical, m)


def test_thickness_grows_with_the_stroke():
    t = measure(torch.cat([bar(k) for k in range(1, 7)]))["thickness"]
    assert (t.diff() > 0).all(), t


def test_width_height_and_slant_of_a_bar():
    m = measure(bar(3, 16))
    assert (m["width"].item(), m["height"].item()) == (3, 16)
    assert m["slant"].item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("s", [-0.4, -0.2, 0.2, 0.4])
def test_a_sheared_bar_measures_its_shear(s):
    # output (x, y) shows input (x + s y, y), y downwards: the top (y < 0) moves right by s |y| for s > 0
    m = measure(shear(bar(3, 20), s))
    assert m["slant"].item() == pytest.approx(s, abs=0.05)
    assert m["thickness"].item() == pytest.approx(3, rel=0.3)


def test_empty_and_bad_input():
    m = measure(-torch.ones(2, 1, 28, 28))
    assert m["thickness"].tolist() == [0, 0] and m["slant"].tolist() == [0, 0] and m["width"].tolist() == [0, 0]
    with pytest.raises(ValueError, match="grey images"):
        binarise(torch.zeros(2, 3, 28, 28))
    assert box_size(torch.zeros(1, 5, 5, dtype=torch.bool))[0].tolist() == [0]


def test_skeleton_equals_skimage_thin_on_digits(mnist):
    thin = pytest.importorskip("skimage.morphology", reason="scikit-image is not installed").thin
    mask = binarise(mnist[1].images[:40])
    ours = skeleton(mask)
    for i in range(len(mask)):
        assert (ours[i].numpy() == thin(mask[i].numpy())).all(), f"digit {i}"


def _training_rows_of_fallback(labels_70k: torch.Tensor) -> torch.Tensor:
    """Rows of the attributes file of the package's offline digits (the first 450 of each class)."""
    train = labels_70k[:60_000]
    return torch.cat([(train == k).nonzero().squeeze(1)[:FALLBACK_TRAIN_PER_CLASS] for k in range(10)])


def test_committed_attributes_match_a_recomputed_random_subset(mnist):
    attrs = load_attributes()
    assert ATTRIBUTES_FILE.stat().st_size < 1_000_000 and attrs.values.shape == (70_000, len(ATTRIBUTES))
    train = mnist[0]
    rows = torch.arange(60_000) if train.is_full else _training_rows_of_fallback(attrs.labels)
    pick = torch.randperm(len(rows), generator=torch.Generator().manual_seed(0))[:300]
    assert torch.equal(attrs.labels[rows[pick]], train.labels[pick])
    again = measure(train.images[pick])
    for j, name in enumerate(ATTRIBUTES):
        torch.testing.assert_close(attrs.values[rows[pick], j], again[name], rtol=2e-3, atol=2e-3, msg=name)
