"""Run by tests/test_distributed.py under torchrun: a tiny model on synthetic digits, with ways to pause or crash.

    torchrun --nproc_per_node 2 -m tests.distributed_helper --out RUN.pt --steps 6 [--pause-at 3] [--crash-at 3]
"""
import argparse

import torch

from helpers.data import ImageSet
from helpers.distributed import from_environment, shutdown
import helpers.train
from helpers.train import TrainingDiverged, train
from tests.tiny import tiny_config


def synthetic() -> ImageSet:
    """64 random 28x28 'digits' in [-1, 1], labels 0..9 (the same on every process)."""
    g = torch.Generator().manual_seed(1)
    return ImageSet(torch.rand(64, 1, 28, 28, generator=g) * 2 - 1, torch.arange(64) % 10, "synthetic",
                    tuple(map(str, range(10))))


def config(steps: int, minutes: float | None = None):
    return tiny_config(max_steps=steps, max_minutes=minutes, num_classes=10, lr_schedule="cosine", batch_size=16)


def poison_loss(at: int) -> None:
    """Make this process's loss NaN on its call number ``at`` (one call per step)."""
    original, calls = helpers.train.noise_prediction_loss, []

    def poisoned(*args, **kwargs):
        calls.append(1)
        loss = original(*args, **kwargs)
        return loss * float("nan") if len(calls) == at + 1 else loss
    helpers.train.noise_prediction_loss = poisoned


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--minutes", type=float)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--pause-at", type=int, help="every process stops here, as Ctrl-C would")
    p.add_argument("--crash-at", type=int, help="process 1 fails here")
    p.add_argument("--nan-at", type=int, help="process 1's loss becomes NaN at this step (0-based)")
    args = p.parse_args()
    ctx = from_environment("cpu")

    def callback(state):
        if state.step == args.pause_at:
            raise KeyboardInterrupt
        if state.step == args.crash_at and ctx.rank == 1:
            raise RuntimeError("process 1 failed on purpose")
    if args.nan_at is not None and ctx.rank == 1:
        poison_loss(args.nan_at)
    try:
        state = train(config(args.steps, args.minutes), synthetic(), out=args.out, resume=args.resume, progress=False,
                      callback=callback, callback_every=1, save_every_s=0.0, ctx=ctx)
        print(f"rank {ctx.rank}: stopped at step {state.step} ({state.stop_reason})", flush=True)
    except KeyboardInterrupt:
        print(f"rank {ctx.rank}: paused", flush=True)
    except TrainingDiverged as e:
        print(f"rank {ctx.rank}: diverged: {e}", flush=True)
    finally:
        shutdown(ctx)


if __name__ == "__main__":
    main()
