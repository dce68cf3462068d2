"""The README's pictures, drawn from the committed reference model: digits, and one reverse trajectory.

    python -m experiments.figures        # about a minute on a 2-core CPU

Writes ``results/figures/samples.png`` (four rows of the digits 0-9, guided with w = 1.5,
DDIM over 25 steps) and ``results/figures/trajectory.png`` (three digits along the 300 steps
of ancestral sampling, the noisy image above the network's estimate of the clean one).
Deterministic: the same seed gives the same pictures.
"""
from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from experiments.common import REFERENCE, RESULTS  # noqa: E402
from helpers.device import make_generator  # noqa: E402
from helpers.io import atomic_write, load_model  # noqa: E402
from helpers.plotting import show_image_table, show_images  # noqa: E402
from helpers.sampling import sample, trajectory  # noqa: E402


def save(fig, path) -> None:
    """Write a figure atomically as PNG, then close it."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(REFERENCE))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "figures"))
    args = parser.parse_args(argv)
    model, diffusion, _ = load_model(args.checkpoint)
    labels = torch.arange(40) % 10
    digits = sample(model, diffusion, 40, labels, 1.5, make_generator(args.seed), "ddim:25")
    fig, ax = plt.subplots(figsize=(6, 2.5))
    show_images(digits, nrow=10, ax=ax)
    save(fig, f"{args.out}/samples.png")
    traj = trajectory(model, diffusion, 3, torch.tensor([2, 5, 8]), 1.5, make_generator(args.seed + 1))
    picks = torch.linspace(0, len(traj["t"]) - 1, 8).round().long()
    frames = torch.stack([torch.cat([traj["x_t"][i], traj["x0"][i]]) for i in picks], dim=1)   # (6, 8, 1, 28, 28)
    fig = show_image_table(frames, [f"t = {int(traj['t'][i])}" for i in picks],
                           row_labels=["x_t"] * 3 + ["x0 estimate"] * 3, size=0.9)
    save(fig, f"{args.out}/trajectory.png")
    print(f"wrote {args.out}/samples.png and {args.out}/trajectory.png")


if __name__ == "__main__":
    main()
