"""Shared fixtures: tiny configs, models and data sets that run in milliseconds."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch

from helpers.config import Config
from helpers.data import ImageSet
from helpers.unet import unet_from_config


def tiny_config(**overrides) -> Config:
    """A 2-level, 8-channel U-Net over a 10-step chain: fast enough for unit tests."""
    base = dict(T=10, schedule="linear", base_channels=8, channel_mults=(1, 2), batch_size=16, warmup_steps=2,
                epochs=None, max_steps=4, seed=0, num_classes=None)
    base.update(overrides)
    return Config(**base)


def tiny_model(config: Config, seed: int = 0) -> torch.nn.Module:
    """A tiny U-Net with every weight random (including the zero-initialised output layer)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = unet_from_config(config)
        torch.nn.init.normal_(model.out[-1].weight, std=0.05)
    return model.eval()


@pytest.fixture
def tiny_data() -> ImageSet:
    """64 random 28x28 'images' in [-1, 1] with labels 0..9."""
    g = torch.Generator().manual_seed(1)
    images = torch.rand(64, 1, 28, 28, generator=g) * 2 - 1
    labels = torch.arange(64) % 10
    return ImageSet(images, labels, "synthetic", tuple(str(i) for i in range(10)))


SCRIPTS = str(Path(__file__).resolve().parents[1] / "scripts")


def import_script(name: str):
    """Import scripts/<name>.py as a module (scripts/ joins sys.path once, not once per call)."""
    if SCRIPTS not in sys.path:
        sys.path.insert(0, SCRIPTS)
    return importlib.import_module(name)
