"""Benchmark 3, sampling speed: images per second of DDPM over every step and of DDIM over 50, 25, 10 steps, with FID.

    python benchmarks/sampling_speed.py                                   # models/ddpm_reference.pt
    python benchmarks/sampling_speed.py --checkpoint bench_out/default_minutes15.pt
    python benchmarks/sampling_speed.py --quick                           # checks that it runs (CI)

Each sampler draws ``--n`` class-balanced digits with classifier-free guidance ``w`` (one
doubled batch per step, so a step costs two forward passes per image), timed from noise to
images on this machine, then scored with the project's evaluation (accuracy, share
recognisable, FID next to the floor at the same n). One JSON line per sampler, with its speed-up
over DDPM. ``--n-ddpm`` lowers the count for the slow full-chain sampler only.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common import ROOT, emit, machine, quick, score_guided, set_threads

from helpers.checkpoint import load_model
from helpers.classifier import load_classifier
from helpers.evaluate import load_reference


def parse_sampler(text: str) -> tuple[str, int | None]:
    """'ddpm' or 'ddim:25' -> (name, steps or None for every step)."""
    name, _, steps = text.partition(":")
    if name not in ("ddpm", "ddim") or (steps and not steps.isdigit()):
        raise SystemExit(f"samplers look like 'ddpm', 'ddpm:300' or 'ddim:25', got {text!r}")
    return name, int(steps) if steps else None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=str(ROOT / "models" / "ddpm_reference.pt"))
    p.add_argument("--samplers", nargs="+", default=["ddpm", "ddim:50", "ddim:25", "ddim:10"])
    p.add_argument("--n", type=int, default=1000, help="samples per sampler")
    p.add_argument("--n-ddpm", type=int, help="samples for DDPM over every step (default: --n)")
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    p.add_argument("--out", help="also append the JSON lines to this file")
    p.add_argument("--quick", action="store_true", help="tiny sample counts: checks that it runs")
    args = p.parse_args(argv)
    threads = set_threads(args.threads)
    fast = args.quick or quick()
    model, diffusion, config = load_model(args.checkpoint)
    classifier = load_classifier(None, "cpu")
    reference = load_reference(classifier)
    ddpm_rate = None
    for name, steps in map(parse_sampler, args.samplers):
        steps = steps or diffusion.T
        n = 10 if fast else (args.n_ddpm or args.n) if name == "ddpm" else args.n
        scores = score_guided(model, diffusion, classifier, reference, n, args.guidance, steps, sampler=name)
        if name == "ddpm" and steps == diffusion.T:
            ddpm_rate = scores["images_per_s"]
        emit({"benchmark": "sampling_speed", "checkpoint": Path(args.checkpoint).name,
              "checkpoint_T": diffusion.T, **scores, "threads": threads,
              "speedup_over_ddpm": round(scores["images_per_s"] / ddpm_rate, 2) if ddpm_rate else None,
              "hardware": machine("cpu")}, args.out)


if __name__ == "__main__":
    main()
