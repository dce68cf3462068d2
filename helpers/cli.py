"""Command line: ``python -m helpers train|sample ...`` (``--help`` on each lists every flag).

Errors (bad flags, missing or corrupt files, bad values) print one line on
stderr and exit with a non-zero status; no traceback.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

import torch

from .checkpoint import CheckpointError, load_model
from .config import config_for_dataset
from .data import load_images
from .device import make_generator, pick_device
from .sampling import parse_labels, sample, save_samples
from .train import TrainingDiverged, train


class CLIError(Exception):
    """A user error worth one line on stderr."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        raise CLIError(f"{self.prog}: {message} (see --help)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m helpers", description="Train and sample a DDPM.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    tr = sub.add_parser("train", help="train a model and write a checkpoint",
                        description="Train a DDPM. Without a budget flag, trains the default "
                                    "configuration (its epochs). Stops at the first budget reached.")
    tr.add_argument("--out", required=True, help="checkpoint path to write (atomically)")
    tr.add_argument("--epochs", type=_positive_int, help="passes over the training set")
    tr.add_argument("--max-steps", type=_positive_int, help="optimiser steps")
    tr.add_argument("--max-minutes", type=_positive_float, help="wall-clock budget in minutes")
    tr.add_argument("--dataset", choices=["mnist", "fashion"], default="mnist")
    tr.add_argument("--data-root", help="folder with the data (default: $DDPM_DATA, else a cache)")
    tr.add_argument("--conditional", action="store_true",
                    help="class-conditional model with label dropout (for guidance)")
    tr.add_argument("--seed", type=int, default=0, help="seed for weights, batches and noise")
    tr.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    tr.add_argument("--schedule", choices=["linear", "scaled_linear", "cosine"])
    tr.add_argument("--lr", type=_positive_float, help="peak learning rate")
    tr.add_argument("--batch-size", type=_positive_int)
    tr.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    sa = sub.add_parser("sample", help="generate images from a checkpoint",
                        description="Generate images from pure noise with a trained checkpoint.")
    sa.add_argument("--checkpoint", required=True, help="checkpoint written by 'train'")
    sa.add_argument("--n", type=_positive_int, required=True, help="number of images")
    sa.add_argument("--out", required=True, help="output .pt file (a PNG grid is written beside it)")
    sa.add_argument("--steps", type=_positive_int,
                    help="reverse steps (default: the model's T; fewer = respaced DDPM)")
    sa.add_argument("--labels", help="'balanced' or comma-separated class labels (conditional models)")
    sa.add_argument("--guidance", type=float, help="classifier-free guidance weight w (1 = none)")
    sa.add_argument("--seed", type=int, default=0, help="seed of the sampling noise")
    sa.add_argument("--batch-size", type=_positive_int, default=500, help="images per forward pass")
    sa.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    sa.add_argument("--raw-weights", action="store_true", help="use raw weights instead of EMA")
    return parser


def cmd_train(args) -> None:
    overrides = {k: v for k, v in {"schedule": args.schedule, "lr": args.lr,
                                   "batch_size": args.batch_size}.items() if v is not None}
    config = config_for_dataset(args.dataset, seed=args.seed,
                                num_classes=10 if args.conditional else None, **overrides)
    if args.epochs or args.max_steps or args.max_minutes:
        config = config.replace(epochs=args.epochs, max_steps=args.max_steps,
                                max_minutes=args.max_minutes)
    data = load_images(args.dataset, train=True, root=args.data_root)
    print(f"data: {len(data)} images from {data.source}", file=sys.stderr)
    state = train(config, data, out=args.out, resume=args.resume, device=pick_device(args.device),
                  progress=not args.no_progress)
    recent = state.losses[-100:]
    print(f"trained {state.step} steps in {state.elapsed_s / 60:.1f} min ({state.stop_reason}); "
          f"mean loss of the last {len(recent)} steps {sum(recent) / max(1, len(recent)):.4f}; "
          f"checkpoint: {args.out}")


def cmd_sample(args) -> None:
    device = pick_device(args.device)
    model, diffusion, config = load_model(args.checkpoint, device, use_ema=not args.raw_weights)
    labels = parse_labels(args.labels, args.n, config.num_classes)
    chain = diffusion.respaced(args.steps) if args.steps else diffusion
    generator = make_generator(args.seed, device)
    start, chunks = time.monotonic(), []
    for lo in range(0, args.n, args.batch_size):
        part = None if labels is None else labels[lo:lo + args.batch_size].to(device)
        chunks.append(sample(model, chain, min(args.batch_size, args.n - lo), part,
                             args.guidance, generator).cpu())
    images = torch.cat(chunks)
    meta = {"checkpoint": str(args.checkpoint), "steps": chain.T, "guidance": args.guidance,
            "seed": args.seed, "seconds": time.monotonic() - start}
    path = save_samples(images, labels, args.out, meta)
    print(f"wrote {args.n} images to {path} and {path.with_suffix('.png')} "
          f"({chain.T} steps, {meta['seconds']:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"
    try:
        args = build_parser().parse_args(argv)
        {"train": cmd_train, "sample": cmd_sample}[args.command](args)
        return 0
    except SystemExit as e:         # --help
        return int(e.code or 0)
    except (CLIError, CheckpointError, TrainingDiverged, ValueError, FileNotFoundError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
