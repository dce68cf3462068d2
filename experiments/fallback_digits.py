"""Build helpers/mnist_5000.npz: the offline fallback, 5,000 real MNIST digits (500 per class).

The first 500 digits of each class in MNIST's training file, in file order, stored sorted by
class as uint8 (5000, 28, 28) ``images`` and uint8 (5000,) ``labels``. ``helpers.data`` uses the
first 450 of each class for training and holds the last 50 out.

    python -m experiments.fallback_digits        # reads the IDX files at $DDPM_DATA (MNIST/raw)
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from helpers.data import FALLBACK_DIGITS, FALLBACK_PER_CLASS, resolve_root


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST's format: big-endian header, then uint8 data) as an array of its shape."""
    raw = path.read_bytes()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def first_per_class(images: np.ndarray, labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` images of each class in file order, sorted by class."""
    keep = np.concatenate([np.flatnonzero(labels == c)[:n] for c in range(10)])
    return images[keep], labels[keep]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("DDPM_DATA"), help="MNIST's root, MNIST/ or MNIST/raw (default $DDPM_DATA)")
    p.add_argument("--out", type=Path, default=FALLBACK_DIGITS)
    args = p.parse_args(argv)
    raw = resolve_root(args.data) / "MNIST" / "raw"
    images, labels = first_per_class(read_idx(raw / "train-images-idx3-ubyte"),
                                     read_idx(raw / "train-labels-idx1-ubyte"), FALLBACK_PER_CLASS)
    np.savez_compressed(args.out, images=images, labels=labels)
    print(f"{args.out}: {len(images):,} digits from {raw}, {args.out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
