"""Sampling speed: images per second of each sampler, with quality, and the wall clock of one call for 100 digits.

    python -m experiments.sampling_speed                                  # models/ddpm_reference.pt
    python -m experiments.sampling_speed --samplers ddim:10 dpm++:5 --guidance 1.5
    python -m experiments.sampling_speed --checkpoint checkpoints/bench/default_minutes15.pt
    python -m experiments.sampling_speed --quick                          # checks that it runs (CI)

Each sampler draws ``--n`` digits (class-balanced, or in MNIST's class mix with ``--labels prior``) with classifier-free guidance ``w`` (one
doubled batch per network call, so a call costs two forward passes per image), timed from noise to
images on this machine, then scored (accuracy, share recognisable, FID next to the floor
at the same n). Then one call of ``sample`` for ``--time-n`` digits (default 100, the model
loaded, after one untimed call) is timed ``--repeats`` times: ``call_s`` is the median wall clock.
One JSON line per sampler, with its speed-up over the first one.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import statistics
import time

import torch

from experiments.common import REFERENCE, emit, load_judge, provenance, quick, sample_and_score, set_threads, summary
from helpers.device import make_generator
from helpers.io import load_model
from helpers.samplers import parse_sampler
from helpers.sampling import sample


def time_one_call(model, diffusion, n: int, guidance: float, sampler, repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of :func:`sample` for n class-balanced digits (one batch),
    after one untimed call (first-call costs such as memory allocation are not the sampler's)."""
    labels, times = torch.arange(n) % 10, []
    for k in range(repeats + 1):
        start = time.perf_counter()
        sample(model, diffusion, n, labels, guidance, make_generator(k), sampler)
        times.append(time.perf_counter() - start)
    return times[1:]


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=str(REFERENCE))
    p.add_argument("--samplers", type=parse_sampler, nargs="+",
                   default=[parse_sampler(s) for s in ("ddpm", "ddim:50", "ddim:25", "ddim:10", "dpm++:10", "dpm++:5")])
    p.add_argument("--n", type=int, default=1000, help="samples per sampler")
    p.add_argument("--n-first", type=int, help="samples for the first (slowest) sampler (default: --n)")
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--labels", choices=("balanced", "prior"), default="balanced",
                   help="labels of the scored digits: 0..9 in turn (default) or MNIST's class mix")
    p.add_argument("--time-n", type=int, default=100, help="digits in the timed single call (0: skip)")
    p.add_argument("--repeats", type=int, default=5, help="timed single calls per sampler (the median is reported)")
    p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    p.add_argument("--out", help="also append the JSON lines to this .jsonl file")
    p.add_argument("--quick", action="store_true", help="tiny sample counts: checks that it runs")
    args = p.parse_args(argv)
    threads = set_threads(args.threads)
    model, diffusion, _ = load_model(args.checkpoint)
    classifier, real = load_judge("cpu", need_full=False)
    records = []
    for i, sampler in enumerate(args.samplers):
        n = 10 if args.quick or quick(argv) else (args.n_first or args.n) if i == 0 else args.n
        s = summary(sample_and_score(model, diffusion, classifier, real, n, args.guidance, sampler, labels=args.labels))
        first = records[0]["images_per_s"] if records else s["images_per_s"]
        fast = args.quick or quick(argv)
        call_n = min(args.time_n, 10) if fast else args.time_n
        calls = time_one_call(model, diffusion, call_n, args.guidance, sampler, 1 if fast else args.repeats) if call_n else []
        timed = {"call_n": call_n, "call_s": round(statistics.median(calls), 3),
                 "call_s_all": [round(c, 3) for c in calls]} if calls else {}
        records.append(emit({"benchmark": "sampling_speed", "checkpoint": Path(args.checkpoint).name,
                             "checkpoint_T": diffusion.T, **s, **timed, "threads": threads,
                             "speedup_over_first": round(s["images_per_s"] / first, 2),
                             **provenance("sampling_speed", argv, "cpu")}, args.out))
    return records


if __name__ == "__main__":
    main()
