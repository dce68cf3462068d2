"""Measure all 70,000 MNIST digits once (thickness, slant, width, height, skeleton length) into
``helpers/mnist_attributes.npz``: float16 (70000, 5), the 60,000 training digits then the 10,000 test digits.

    DDPM_DATA=/path/to/MNIST/raw python -m experiments.mnist_attributes

Needs the full MNIST (the captions of :mod:`helpers.captions` are built from these numbers);
``tests/test_morphometry.py`` recomputes a random subset and checks that it matches.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from helpers.data import load_images
from helpers.io import atomic_write
from helpers.morphometry import ATTRIBUTES, ATTRIBUTES_FILE, measure


def all_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 70,000 MNIST digits (70000, 1, 28, 28) in [-1, 1] and labels (70000,): training, then test."""
    train, test = load_images("mnist", train=True), load_images("mnist", train=False)
    if not (train.is_full and test.is_full):
        raise SystemExit(f"the attributes file needs full MNIST (found {train.source}); "
                         "set DDPM_DATA to a folder holding MNIST/raw")
    return torch.cat([train.images, test.images]), torch.cat([train.labels, test.labels])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ATTRIBUTES_FILE), help="where to write the .npz file")
    args = parser.parse_args(argv)
    images, labels = all_digits()
    start = time.monotonic()
    values = measure(images)
    table = torch.stack([values[name] for name in ATTRIBUTES], dim=1).numpy().astype(np.float16)
    def write(tmp):
        with tmp.open("wb") as f:
            np.savez_compressed(f, attributes=table, names=np.array(ATTRIBUTES),
                                labels=labels.numpy().astype(np.uint8), n_train=np.int64(60_000))
    atomic_write(args.out, write)
    print(f"measured {len(images):,} digits in {time.monotonic() - start:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
