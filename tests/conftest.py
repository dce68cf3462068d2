"""Shared fixtures: tiny data sets (the tiny configs and models are in tests/tiny.py)."""
from __future__ import annotations

import socket
import warnings

import pytest
import torch

from helpers.data import ImageSet, load_images, network_available


@pytest.fixture
def tiny_data() -> ImageSet:
    """64 random 28x28 'images' in [-1, 1] with labels 0..9."""
    g = torch.Generator().manual_seed(1)
    images = torch.rand(64, 1, 28, 28, generator=g) * 2 - 1
    labels = torch.arange(64) % 10
    return ImageSet(images, labels, "synthetic", tuple(str(i) for i in range(10)))


@pytest.fixture(scope="session")
def mnist() -> tuple[ImageSet, ImageSet]:
    """(training, test) MNIST: the full set when DDPM_DATA points at it, else the offline fallback."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the offline-fallback warning
        return load_images("mnist", train=True, download=False), load_images("mnist", train=False, download=False)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No DDPM_DATA, an empty cache, and every TCP connection refused; yields tmp_path."""
    monkeypatch.delenv("DDPM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (simulated)")
    monkeypatch.setattr(socket, "create_connection", refuse)
    network_available.cache_clear()
    yield tmp_path
    network_available.cache_clear()
