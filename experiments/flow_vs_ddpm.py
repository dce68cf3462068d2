"""Flow matching beside DDPM on MNIST: the same network, the same training steps, the same network calls.

    python -m experiments.flow_vs_ddpm                        # 1,500 steps, seeds 0 and 1, calls 1 2 4 8 25
    python -m experiments.flow_vs_ddpm --steps 800 --seeds 0  # a smaller budget
    python -m experiments.flow_vs_ddpm --quick                # checks that it runs (CI)

For each seed and method it trains the course's default configuration from scratch for ``--steps``
optimiser steps (the cosine learning rate decays over them): ``ddpm`` (the noise-predicting chain)
and ``flow`` (flow matching on the linear path, the network predicting the velocity). Both use the
same U-Net, batch and optimiser, so a step costs the same network work in either: equal steps are
equal training compute. Each model's EMA weights then sample ``--n`` guided digits in MNIST's class
mix at each network-call budget in ``--calls`` (DDPM: deterministic DDIM with that many steps; flow:
Euler with that many steps; one call per step either way; one call is the clean image each model
estimates from pure noise, which is what a one-step DDIM or Euler step returns) and the course's judge scores them:
accuracy, the share recognisable and FID next to the floor. Training runs on the step budget only,
never on the clock, so a shared CPU changes the minutes but not the numbers.

Each (method, seed) is one part of ``--out`` (default results/flow_vs_ddpm.json), rewritten after
every score so that a cut run keeps what it measured: the training record (steps, seconds, final
loss, the command, hardware and date) and one score per call count.
"""
from __future__ import annotations

import argparse
import time

import torch

from experiments.common import (RESULTS, guided_labels, load_judge, provenance, quick, sample_and_score, set_threads,
                                summary, write)
from helpers.config import Config
from helpers.data import load_images
from helpers.device import make_generator, pick_device
from helpers.evaluation.report import evaluate_samples
from helpers.sampling import trajectory
from helpers.train import train
from helpers.unet import count_parameters

SAMPLER = {"ddpm": "ddim", "flow": "euler"}      # one network call per step for each method


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1500, help="optimiser steps per model (default 1500)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds (default 0 1)")
    p.add_argument("--methods", nargs="+", default=["flow", "ddpm"], choices=tuple(SAMPLER),
                   help="methods to train (default flow ddpm)")
    p.add_argument("--calls", type=int, nargs="+", default=[1, 2, 4, 8, 25],
                   help="network-call budgets to score (default 1 2 4 8 25)")
    p.add_argument("--n", type=int, default=1000, help="guided digits scored per call budget (default 1000)")
    p.add_argument("--guidance", type=float, default=2.0, help="guidance weight w (default 2.0)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    p.add_argument("--out", default=str(RESULTS / "flow_vs_ddpm.json"), help="the results file (a .json of parts)")
    p.add_argument("--quick", action="store_true", help="tiny budgets and sample counts: checks that it runs")
    return p


def sampler_spec(method: str, calls: int) -> str:
    """The one-call-per-step sampler of ``method`` with ``calls`` (2 or more) steps: 'ddim:N' or 'euler:N'."""
    if calls < 2:
        raise ValueError(f"a sampler takes at least 2 network calls, got {calls} (one call: one_call_scores)")
    return f"{SAMPLER[method]}:{calls}"


def one_call_scores(model, diffusion, method: str, classifier, real, n: int, guidance: float, seed: int = 0) -> dict:
    """Score the clean images (n, C, H, W) a model estimates from pure noise in one network call.

    Both methods' first step of a two-step sampler makes this estimate (from the same noise as
    :func:`experiments.common.sample_and_score` with ``seed``); the second call is not used.
    Returns a record :func:`experiments.common.summary` reads.
    """
    y, device = guided_labels(n, real, "prior"), next(model.parameters()).device
    start = time.monotonic()
    frames = trajectory(model, diffusion, n, y.to(device), guidance, make_generator(seed, device),
                        every=2, sampler=sampler_spec(method, 2))
    images, seconds = frames["x0"][0].clamp(-1, 1), time.monotonic() - start
    scores = evaluate_samples(classifier, images, y, real, seed=seed)
    return {"n": n, "guidance": guidance, "sampler": SAMPLER[method], "steps": 1, "network_calls": 1,
            "seconds": round(seconds, 1), "images_per_s": round(n / seconds, 2), **scores}


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    threads, device = set_threads(args.threads), pick_device(args.device)
    steps, n, calls = (3, 20, [1, 2]) if args.quick or quick(argv) else (args.steps, args.n, args.calls)
    data, (classifier, real) = load_images("mnist", train=True), load_judge(device, need_full=False)
    parts = {}
    for seed in args.seeds:
        for method in args.methods:
            config = Config(method=method, seed=seed, epochs=None, max_steps=steps)
            start = time.perf_counter()
            state = train(config, data, device=device, progress=False)
            record = {"method": method, "prediction": config.prediction, "seed": seed, "train_steps": state.step,
                      "train_s": round(time.perf_counter() - start, 1),
                      "final_loss_mean_50": round(sum(state.losses[-50:]) / len(state.losses[-50:]), 4),
                      "parameters": count_parameters(state.model), "data": data.source, "full_data": data.is_full,
                      "threads": threads, **provenance("flow_vs_ddpm", argv, device), "scores": []}
            model = state.sampling_model.eval()
            for c in calls:
                scores = one_call_scores(model, state.diffusion, method, classifier, real, n, args.guidance) \
                    if c == 1 else sample_and_score(model, state.diffusion, classifier, real, n, args.guidance,
                                                    sampler_spec(method, c), labels="prior")
                record["scores"].append(summary(scores))
                write(record, args.out, f"{method}_seed{seed}")
            parts[f"{method}_seed{seed}"] = record
    return parts


if __name__ == "__main__":
    main()
