"""Tiny configs and models that run in milliseconds, for the unit tests."""
from __future__ import annotations

import torch

from helpers.config import Config
from helpers.train import train
from helpers.unet import unet_from_config


def tiny_config(**overrides) -> Config:
    """A 2-level, 8-channel U-Net over a 10-step chain: fast enough for unit tests."""
    base = dict(T=10, schedule="linear", base_channels=8, channel_mults=(1, 2), batch_size=16, warmup_steps=2,
                epochs=None, max_steps=4, seed=0, num_classes=None)
    return Config(**{**base, **overrides})


def tiny_model(config: Config, seed: int = 0) -> torch.nn.Module:
    """A tiny U-Net with every weight random (including the zero-initialised output layer)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = unet_from_config(config)
        torch.nn.init.normal_(model.out[-1].weight, std=0.05)
    return model.eval()


def train_cpu(config: Config, data, **kw):
    """``helpers.train.train`` on the CPU without a progress bar (the tests' way of training)."""
    return train(config, data, device=torch.device("cpu"), progress=False, **kw)


def interrupt_at(config: Config, data, out, step: int) -> None:
    """Train ``config`` into ``out`` and stop it with a KeyboardInterrupt after ``step`` steps (the Ctrl-C
    a learner sends); the caller checks what was saved."""
    import pytest

    def interrupt(state):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train_cpu(config, data, out=out, callback=interrupt, callback_every=step)
