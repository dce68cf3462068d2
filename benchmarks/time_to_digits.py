"""Benchmark 2, time to good digits: train from scratch for a wall-clock budget, then score guided samples.

    python benchmarks/time_to_digits.py --minutes 5 10 15          # the default configuration, CPU
    python benchmarks/time_to_digits.py --minutes 5 --set lr=4e-3  # one lever changed
    python benchmarks/time_to_digits.py --steps 1400 --device cuda # a step budget (lever study on a GPU)
    python benchmarks/time_to_digits.py --quick                    # checks that it runs (CI)

For each budget it trains ``Config()`` (with ``--set`` overrides) on the full MNIST training
set, with the budget as the only limit (the cosine learning rate decays over it), then samples
``--n`` class-balanced digits per guidance weight with DDIM and scores them with the project's
evaluation: classifier accuracy against the intended label, the share recognisable (top-class
probability above 0.9), and FID on classifier features next to the train-vs-test floor at the
same n. One JSON line per (budget, guidance weight). Training time excludes the scoring.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from common import ROOT, emit, machine, parse_overrides, quick, score_guided, set_threads

from helpers.checkpoint import save_checkpoint
from helpers.classifier import load_classifier
from helpers.config import Config
from helpers.data import load_images
from helpers.device import pick_device
from helpers.evaluate import load_reference
from helpers.train import train
from helpers.unet import count_parameters


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, nargs="+", help="wall-clock training budgets (default 5 10 15)")
    budget.add_argument("--steps", type=int, nargs="+", help="optimiser-step budgets instead of minutes")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a Config field (repeatable)")
    p.add_argument("--n", type=int, default=1000, help="guided samples scored per guidance weight")
    p.add_argument("--guidance", type=float, nargs="+", default=[1.5, 2.0, 3.0], help="guidance weights w to score")
    p.add_argument("--sampler-steps", type=int, default=25, help="DDIM steps for scoring")
    p.add_argument("--device", default="cpu", help="cpu (the benchmark's subject), cuda, auto")
    p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    p.add_argument("--label", default="", help="name of this experiment in the output")
    p.add_argument("--save-dir", help="keep each trained checkpoint here (e.g. for benchmarks/sampling_speed.py)")
    p.add_argument("--out", help="also append the JSON lines to this file")
    p.add_argument("--quick", action="store_true", help="tiny budgets and sample counts: checks that it runs")
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    threads = set_threads(args.threads)
    device = pick_device(args.device)
    overrides = parse_overrides(args.set)
    if args.quick or quick():
        budgets, kind, n = [("steps", 3)], "steps", 20
    else:
        kind = "steps" if args.steps else "minutes"
        budgets, n = [(kind, b) for b in (args.steps or args.minutes or [5, 10, 15])], args.n
    data = load_images("mnist", train=True)
    classifier = load_classifier(None, device)
    reference = load_reference(classifier)
    for _, budget in budgets:
        limits = {"max_steps": int(budget)} if kind == "steps" else {"max_minutes": float(budget)}
        config = Config(**{**overrides, "epochs": None, **limits})
        torch.manual_seed(config.seed)
        start = time.perf_counter()
        state = train(config, data, device=device, progress=False)
        train_s = time.perf_counter() - start
        if args.save_dir:
            save_checkpoint(state.to_checkpoint(),
                            Path(args.save_dir) / f"{args.label or 'default'}_{kind}{budget:g}.pt")
        model = state.sampling_model.eval()
        base = {"benchmark": "time_to_digits", "label": args.label, "overrides": overrides,
                "budget": {kind: budget}, "train_s": round(train_s, 1), "train_steps": state.step,
                "images_per_s_train": round(state.step * config.batch_size / train_s, 1),
                "final_loss_mean_50": round(sum(state.losses[-50:]) / len(state.losses[-50:]), 4),
                "parameters": count_parameters(state.model), "data": data.source, "threads": threads,
                "hardware": machine(device)}
        for w in args.guidance:
            scores = score_guided(model, state.diffusion, classifier, reference, n, w, args.sampler_steps)
            emit({**base, **scores}, args.out)


if __name__ == "__main__":
    main()
