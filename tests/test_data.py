"""Data: root resolution, the offline fallback (simulated), Fashion-MNIST from Debian's files."""
import gzip
import os
import struct
import time
from pathlib import Path

import pytest
import torch

from helpers.data import (FALLBACK_DIGITS, DataFallbackWarning, ImageSet, epoch_order, load_images, network_available,
                          resolve_root)

SHARED = os.environ.get("DDPM_DATA")


def test_offline_mnist_falls_back_fast_with_a_warning(offline):
    start = time.monotonic()
    with pytest.warns(DataFallbackWarning, match="the package's 5,000 real digits.*DDPM_DATA"):
        train = load_images("mnist", train=True)
    with pytest.warns(DataFallbackWarning):
        test = load_images("mnist", train=False)
    assert time.monotonic() - start < 30
    assert train.images.shape == (4500, 1, 28, 28) and test.images.shape == (500, 1, 28, 28)
    assert torch.bincount(test.labels).tolist() == [50] * 10
    assert train.images.min() == -1 and train.images.max() == 1
    assert "5,000 MNIST digits" in train.source and "held-out" in test.source
    assert not any(torch.equal(a, b) for a in test.images[:50] for b in train.images[:450])   # held out: not trained on


def test_the_fallback_file_is_small_and_holds_plain_bytes():
    """A compressed uint8 file of 500 digits per class, well under 2 MB, that numpy alone reads."""
    import numpy as np

    assert FALLBACK_DIGITS.stat().st_size < 1_500_000
    with np.load(FALLBACK_DIGITS) as f:
        images, labels = f["images"], f["labels"]
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8 and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10 and (np.diff(labels) >= 0).all()   # sorted by class


@pytest.mark.skipif(not SHARED, reason="full MNIST not available (DDPM_DATA unset)")
def test_the_fallback_digits_are_the_first_500_of_each_class_of_mnists_training_set(offline, monkeypatch):
    """experiments/fallback_digits.py built the file from these IDX files: rebuilding it gives the same bytes."""
    from experiments.fallback_digits import main

    main(["--data", SHARED, "--out", str(offline / "again.npz")])
    import numpy as np
    with np.load(offline / "again.npz") as a, np.load(FALLBACK_DIGITS) as b:
        assert np.array_equal(a["images"], b["images"]) and np.array_equal(a["labels"], b["labels"])


def test_network_check_fails_without_a_connection(offline):
    assert network_available("mnist", timeout=0.5) is False


def test_root_layouts_are_all_accepted(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    assert resolve_root(raw) == tmp_path.resolve()
    assert resolve_root(tmp_path / "MNIST") == tmp_path.resolve()
    assert resolve_root(tmp_path) == tmp_path.resolve()


def test_environment_variable_sets_the_root(monkeypatch, tmp_path):
    monkeypatch.setenv("DDPM_DATA", str(tmp_path))
    assert resolve_root() == tmp_path.resolve()
    assert resolve_root(tmp_path / "other") == (tmp_path / "other").resolve()


def _write_idx(folder: Path, prefix: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    n = len(images)
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.numpy().tobytes())
    with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, n) + labels.numpy().tobytes())


def test_fashion_mnist_from_debian_files(offline):
    debian = offline / "debian"
    debian.mkdir()
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (20, 28, 28), generator=g, dtype=torch.uint8)
    labels = torch.arange(20, dtype=torch.uint8) % 10
    _write_idx(debian, "train", imgs, labels)
    _write_idx(debian, "t10k", imgs[:10], labels[:10])
    out = load_images("fashion", train=True, root=offline / "empty", debian_dir=debian)
    assert out.images.shape == (20, 1, 28, 28) and out.labels.tolist() == labels.long().tolist()
    assert torch.equal(((out.images + 1) * 127.5).round().to(torch.uint8)[:, 0], imgs)
    assert out.class_names[0] == "T-shirt/top" and "Debian" in out.source
    assert len(load_images("fashion", train=False, root=offline / "empty", debian_dir=debian)) == 10


def test_fashion_offline_without_files_says_how_to_get_them(offline):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_images("fashion", root=offline / "empty", debian_dir=offline / "none")


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        load_images("cifar")


def test_epoch_order_is_a_pure_function():
    assert torch.equal(epoch_order(100, 3, 7), epoch_order(100, 3, 7))
    assert not torch.equal(epoch_order(100, 3, 7), epoch_order(100, 3, 8))
    assert sorted(epoch_order(100, 3, 7).tolist()) == list(range(100))


@pytest.mark.skipif(not SHARED, reason="full MNIST not available (DDPM_DATA unset)")
def test_full_mnist_from_ddpm_data():
    train, test = load_images("mnist", train=True), load_images("mnist", train=False)
    assert len(train) == 60000 and len(test) == 10000
    assert torch.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    mean_pixel = ((train.images + 1) * 127.5).mean().item()
    assert mean_pixel == pytest.approx(33.32, abs=0.01)


def test_is_full_tells_the_whole_split_from_a_part(mnist):
    train, test = mnist
    assert train.is_full == (len(train) == 60_000) and test.is_full == (len(test) == 10_000)
    assert (train.name, train.train, test.train) == ("mnist", True, False)
    part = ImageSet(test.images[:10], test.labels[:10], test.source, test.class_names, "mnist", False)
    assert not part.is_full and not ImageSet(test.images, test.labels, "custom", test.class_names).is_full
