"""The hardware ceiling: how close one training step comes to this machine's matmul speed.

    python -m experiments.ceiling                         # the default configuration
    python -m experiments.ceiling --base-channels 32      # any Config flag of python -m helpers train
    python -m experiments.ceiling --quick                 # checks that it runs (CI)

1. The ceiling: fp32 GFLOP/s of a large square matmul with torch on all cores (best of
   several repeats): what this CPU can do at best.
2. The FLOPs of one training step of the configuration (forward and backward of the U-Net on
   one batch, counted by ``torch.utils.flop_counter.FlopCounterMode``; the optimiser and EMA
   updates are a few FLOPs per parameter and are not counted).
3. The time of a real training step (``helpers.train.train_step``: the loss, backward, Adam,
   EMA), median of repeats, giving achieved GFLOP/s, its fraction of the ceiling, and the
   ceiling in images per second (what the step would reach at matmul speed).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from experiments.common import emit, provenance, quick, set_threads
from helpers.cli import add_config_flags, config_from_args
from helpers.config import Config
from helpers.train import build_state, train_step


def matmul_gflops(n: int = 2048, repeats: int = 10, rounds: int = 5, dtype=torch.float32) -> float:
    """Best-of-``rounds`` GFLOP/s of an n x n by n x n matmul (2 n^3 FLOPs each), fp32 by default."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def step_flops(config: Config) -> tuple[int, list, tuple]:
    """FLOPs of one training step (forward + backward), with the state and a batch to time it on."""
    state = build_state(config, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand((config.batch_size, config.channels, config.image_size, config.image_size), generator=g) * 2 - 1
    y = torch.randint(0, config.num_classes or 1, (config.batch_size,), generator=g) if config.conditional else None
    with FlopCounterMode(display=False) as counter:
        train_step(state, x0, y, config.lr)
    return counter.get_total_flops(), state, (x0, y)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    p.add_argument("--steps", type=int, default=30, help="timed training steps")
    p.add_argument("--contiguous", action="store_true", help="plain NCHW weights instead of channels-last (lever check)")
    p.add_argument("--unfused-adam", action="store_true", help="per-parameter Adam instead of fused (lever check)")
    p.add_argument("--compile", action="store_true", help="torch.compile the U-Net (lever check)")
    p.add_argument("--bf16", action="store_true",
                   help="train under bf16 autocast (lever check; the fraction stays against the fp32 ceiling)")
    p.add_argument("--out", help="also append the JSON line to this .jsonl file")
    p.add_argument("--quick", action="store_true", help="small sizes: checks that it runs")
    add_config_flags(p)
    args = p.parse_args(argv)
    threads = set_threads(args.threads)
    fast = args.quick or quick(argv)
    def peak(dtype=torch.float32) -> float:
        return matmul_gflops(512, 3, 2, dtype) if fast else matmul_gflops(dtype=dtype)

    ceiling = peak()
    config = config_from_args(args)
    flops, state, (x0, y) = step_flops(config)
    if args.contiguous:
        state.model.to(memory_format=torch.contiguous_format)
    if args.unfused_adam:
        state.optimizer = torch.optim.Adam(state.model.parameters(), lr=config.lr)
    if args.compile:
        state.model = torch.compile(state.model)
    def timed_step() -> float:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            train_step(state, x0, y, config.lr)
        return time.perf_counter() - start

    for _ in range(3):                       # warm-up (and compilation, with --compile)
        timed_step()
    times = [timed_step() for _ in range(3 if fast else args.steps)]
    step_s = statistics.median(times)
    achieved = flops / step_s / 1e9
    per_image = flops / config.batch_size
    levers = {"channels_last": not args.contiguous, "fused_adam": not args.unfused_adam, "compile": args.compile,
              "bf16_autocast": args.bf16}
    extra = {"bf16_matmul_gflops": round(peak(torch.bfloat16), 1)} if args.bf16 else {}
    overrides = {k: v for k, v in config.to_dict().items() if v != Config().to_dict()[k]}
    emit({"benchmark": "ceiling", "overrides": overrides, "levers": levers, "threads": threads,
          "matmul_gflops": round(ceiling, 1), "step_gflop": round(flops / 1e9, 2),
          "batch_size": config.batch_size, "step_ms": round(1000 * step_s, 1),
          "achieved_gflops": round(achieved, 1), "fraction_of_ceiling": round(achieved / ceiling, 3),
          "images_per_s": round(config.batch_size / step_s, 1),
          "ceiling_images_per_s": round(ceiling * 1e9 / per_image, 1), **extra,
          **provenance("ceiling", argv, "cpu")}, args.out)


if __name__ == "__main__":
    main()
