"""What each part of the model is worth: ablations at an equal training budget, two seeds each.

    python -m experiments.ablations                                   # 5 variants x 2 seeds: about 80 min
    python -m experiments.ablations --steps 20 --n 50 --seeds 0       # a quick try-out

Every variant trains from the same seed, on the same batches, for ``--steps`` optimiser steps
(2,500 by default: about 5 CPU-minutes, where it already makes good digits), then is scored on
``--n`` digits with DDIM. The network taken apart is the reference model's design (``NETWORK``: 16, 32
and 32 channels, the default when the recorded results were made); every other setting is the default:

- ``baseline``: the full class-conditional model;
- ``no_skip``: without the U-Net's skip connections (the decoder sees only the bottleneck);
- ``no_time``: without the time embedding (the network must guess t from the image);
- ``unconditional``: without class labels;
- ``student_schedule``: the student report's schedule (linear betas, T = 300) instead of the
  rescaled-linear one, everything else default.

Scores: ``guided`` (w = ``--guidance``, labels in MNIST's class mix; conditional variants only)
and ``unguided`` (w = 0, the same network without labels, or the unconditional model), plus
the held-out loss in ten bands of t. Writes ``results/ablations.json`` and a grid of each
variant's first 20 digits (seed 0) to ``results/ablation_samples/``. Checkpoints go to
``checkpoints/ablations/`` (resumable: an interrupted run continues with the same command).
Needs full MNIST (``DDPM_DATA``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torchvision

from experiments.common import RESULTS, ROOT, load_judge, provenance, sample_and_score, summary
from helpers.config import Config
from helpers.data import ImageSet, load_images
from helpers.device import make_generator, pick_device
from helpers.io import save_json
from helpers.sampling import eps_model, sample
from helpers.train import noise_prediction_loss, train
from helpers.unet import count_parameters

NETWORK = {"base_channels": 16, "channel_mults": (1, 2, 2)}
VARIANTS = {"baseline": {}, "no_skip": {"skip_connections": False}, "no_time": {"time_embedding": False},
            "unconditional": {"num_classes": None}, "student_schedule": {"schedule": "linear"}}
T_BANDS = 10


@torch.no_grad()
def loss_by_t(model, diffusion, images: torch.Tensor, labels: torch.Tensor | None, seed: int) -> list[float]:
    """Noise-prediction MSE on ``images`` (N, 1, 28, 28) in each of T_BANDS equal bands of t."""
    g, edges, f = make_generator(seed), torch.linspace(0, diffusion.T, T_BANDS + 1).long(), eps_model(model, labels)
    return [float(noise_prediction_loss(diffusion, f, images, g, t=torch.randint(int(lo), int(hi), (len(images),),
                                                                                    generator=g)))
            for lo, hi in zip(edges[:-1], edges[1:])]


def run_variant(name: str, seed: int, args, data, judge, probe) -> dict:
    """Train one variant for args.steps from ``seed`` (resumable) and score it."""
    config = Config(seed=seed, epochs=None, max_steps=args.steps, **NETWORK, **VARIANTS[name])
    ckpt = ROOT / "checkpoints" / "ablations" / f"{name}_s{seed}_{args.steps}.pt"
    state = train(config, data, out=ckpt, resume="if_exists", device=args.device, progress=False)
    model, diffusion = state.sampling_model.eval(), state.diffusion
    classifier, real = judge
    score = dict(model=model, diffusion=diffusion, classifier=classifier, real=real, n=args.n,
                 sampler=args.sampler, seed=seed)
    entry = {"config": config.to_dict(), "parameters": count_parameters(state.model), "steps": state.step,
             "train_seconds": round(state.elapsed_s, 1),
             "final_loss_mean_100": sum(state.losses[-100:]) / len(state.losses[-100:]),
             "loss_by_t": loss_by_t(model, diffusion, probe.images, probe.labels if config.conditional else None, seed),
             "unguided": sample_and_score(**score, guidance=0.0 if config.conditional else None)}
    if config.conditional:
        entry["guided"] = sample_and_score(**score, guidance=args.guidance)
    if seed == args.seeds[0]:
        labels = torch.arange(20) % 10 if config.conditional else None
        grid = sample(model, diffusion, 20, labels, args.guidance if config.conditional else None,
                      make_generator(seed), args.sampler)
        (RESULTS / "ablation_samples").mkdir(parents=True, exist_ok=True)
        torchvision.utils.save_image((grid + 1) / 2, RESULTS / "ablation_samples" / f"{name}.png", nrow=10, padding=1)
    return entry


SETTINGS = ("n", "sampler", "guidance", "steps", "t_bands")


def earlier_runs(path, result: dict) -> dict:
    """The runs already in ``path`` when it was measured with the same settings, so that rerunning some
    variants merges into the file instead of erasing the others; {} when there is no file yet."""
    path = Path(path)
    if not path.is_file():
        return {}
    earlier = json.loads(path.read_text())
    differ = [k for k in SETTINGS if earlier.get(k) != result[k]]
    if differ:
        raise SystemExit(f"{path} holds ablations measured with other settings ({', '.join(f'{k} {earlier.get(k)}' for k in differ)}); "
                         "rerun with those settings to add variants, or write to another --out")
    return earlier.get("runs", {})


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2500, help="optimiser steps per variant (default 2,500)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--n", type=int, default=1000, help="digits per score (default 1,000)")
    parser.add_argument("--sampler", default="ddim:25", help="sampler of the scores (default ddim:25)")
    parser.add_argument("--guidance", type=float, default=2.0, help="w of the guided score (default 2)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--out", default=str(RESULTS / "ablations.json"))
    args = parser.parse_args(argv)
    args.device = pick_device("auto")
    judge = load_judge(args.device)
    data, test = load_images("mnist", train=True), load_images("mnist", train=False)
    pick = torch.randperm(len(test), generator=make_generator(0))[:1000]        # held-out loss probe
    probe = ImageSet(test.images[pick], test.labels[pick], test.source, test.class_names)
    result = {"runs": {}, "n": args.n, "sampler": args.sampler, "guidance": args.guidance, "steps": args.steps,
              "t_bands": T_BANDS, **provenance("ablations", argv, args.device)}
    result["runs"] = earlier_runs(args.out, result)
    for name in args.variants:
        for seed in args.seeds:
            entry = run_variant(name, seed, args, data, judge, probe)
            result["runs"].setdefault(name, {})[str(seed)] = entry
            print(name, seed, {k: summary(entry[k]) for k in ("guided", "unguided") if k in entry}, flush=True)
            save_json(result, args.out)                  # after every run: an interruption keeps the rest
    return result


if __name__ == "__main__":
    main()
