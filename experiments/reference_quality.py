"""How good is a trained model? Guided and unconditional digits, the guidance sweep, samplers, trajectories.

    python -m experiments.reference_quality guided          # 10,000 guided digits, DDIM 50 steps, w = 2
    python -m experiments.reference_quality guided --sampler ddpm:50 --guidance 1.1 --name guided_ddpm50
    python -m experiments.reference_quality sweep --n 1000 --sweep-w 0 1 2 3 5
    python -m experiments.reference_quality samplers --samplers ddpm ddim:50 ddim:25 ddim:10
    python -m experiments.reference_quality trajectory      # when digits become recognisable
    python -m experiments.reference_quality floors          # real digits: random vs balanced classes
    python -m experiments.reference_quality guided --dataset fashion   # the Fashion-MNIST reference
    python -m experiments.reference_quality unconditional --checkpoint models/uncond_reference.pt \
        --guide models/uncond_guide.pt --autoguidance 2 --sampler ddpm:100   # the unconditional reference

Each part samples from ``--checkpoint`` (default: the committed reference model), scores
with the digit classifier and FID against the floor (``--guide``: autoguided by that weaker model), and writes itself as part ``--name``
(default: the part's name) of ``--out`` (default ``results/reference_quality.json``, for
Fashion-MNIST ``results/fashion/reference_quality.json``).
Guided digits are asked for in MNIST's class proportions (``--labels balanced``: 0..9 in
turn). Needs full MNIST (``DDPM_DATA``).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torchvision

from experiments.common import ROOT, load_judge, provenance, sample_and_score, summary, write
from helpers.device import make_generator, pick_device
from helpers.evaluation.metrics import first_recognisable_t, trajectory_recognisability
from helpers.io import REFERENCE_MODELS, load_checkpoint, load_model, reference_model, results_dir
from helpers.samplers import parse_sampler
from helpers.sampling import Autoguided, trajectory

DEFAULT_N = {"guided": 10_000, "unconditional": 10_000, "sweep": 1_000, "samplers": 1_000, "trajectory": 100,
             "floors": 10_000}


def recognisability_curves(model, diffusion, classifier, n: int, guidance: float, seed: int,
                           strip_path: Path) -> dict:
    """Classifier accuracy on x_t and on the x0 estimate at every step of n DDPM trajectories;
    also draws ``strip_path`` (8 frames of 10 images, x_t above x0)."""
    labels, start = torch.arange(n) % 10, time.monotonic()
    traj = trajectory(model, diffusion, n, labels, guidance, make_generator(seed, next(model.parameters()).device))
    seconds = time.monotonic() - start
    curves = {key: trajectory_recognisability(classifier, traj, labels, key=key) for key in ("x_t", "x0")}
    first = {key: {f"{share:.0%}": first_recognisable_t(c, share, "accuracy") for share in (0.5, 0.9)}
             for key, c in curves.items()}
    picks = torch.linspace(0, len(traj["t"]) - 1, 8).round().long()       # 8 frames, noise to digit
    strip = torch.cat([traj["x_t"][picks, :10], traj["x0"][picks, :10].clamp(-1, 1)]).flatten(0, 1)
    strip_path.parent.mkdir(parents=True, exist_ok=True)
    torchvision.utils.save_image((strip + 1) / 2, strip_path, nrow=10, padding=1)
    return {"strip_t": traj["t"][picks].tolist(), "n": n, "guidance": guidance, "sampler": "ddpm",
            "steps": diffusion.T, "seed": seed, "schedule": diffusion.schedule, "T": diffusion.T,
            "seconds": round(seconds, 1),
            "metric": "accuracy", "first_t": first, "t": curves["x0"]["t"].tolist(),
            "curves": {key: {k: (None if v is None else v.tolist()) for k, v in c.items() if k != "t"}
                       for key, c in curves.items()}}


def real_floors(real, n: int, seed: int) -> dict:
    """FID of n real training digits against the test set: drawn at random (the floor) and
    drawn n/10 per class (what balanced labels ask a perfect model for)."""
    g = torch.Generator().manual_seed(seed)
    balanced = torch.cat([idx[torch.randperm(len(idx), generator=g)[:n // 10]]
                          for idx in (torch.nonzero(real.train.labels == c).flatten()
                                      for c in range(len(real.train.class_names)))])
    result = {"n": n, "seed": seed, "random": real.floor(n, seed),
              "balanced": real.distances(real.train.images[balanced], torch.Generator().manual_seed(seed))}
    result["balanced_over_random_fid"] = result["balanced"]["fid"] / result["random"]["fid"]
    return result


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", choices=sorted(DEFAULT_N))
    p.add_argument("--dataset", choices=sorted(REFERENCE_MODELS), default="mnist",
                   help="data set: picks the default checkpoint, the judge and --out")
    p.add_argument("--checkpoint", help="model to measure (default: the data set's committed reference)")
    p.add_argument("--guide", help="a weaker model of the same kind: sample with autoguidance (Karras et al. 2024)")
    p.add_argument("--autoguidance", type=float, default=2.0, help="autoguidance weight with --guide (1: none)")
    p.add_argument("--n", type=int, help="samples per setting (default: 10,000 or 1,000 by part)")
    p.add_argument("--guidance", type=float, default=2.0, help="w of 'guided', 'samplers', 'trajectory'")
    p.add_argument("--sampler", type=parse_sampler, default=parse_sampler("ddim:50"),
                   help="sampler of guided, unconditional and sweep (default ddim:50), e.g. ddpm:50, ddim:25:0.5")
    p.add_argument("--samplers", type=parse_sampler, nargs="+",
                   default=[parse_sampler(s) for s in ("ddpm", "ddim:50", "ddim:25", "ddim:10")],
                   help="samplers of 'samplers'")
    p.add_argument("--sweep-w", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0, 5.0],
                   help="guidance weights of 'sweep'")
    p.add_argument("--labels", choices=("prior", "balanced"), default="prior",
                   help="guided labels: MNIST's class proportions (default) or 0..9 in turn")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--name", help="key of the result in --out (default: the part's name)")
    p.add_argument("--out", help="results file (default: reference_quality.json in the data set's results folder)")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    args.checkpoint = args.checkpoint or str(reference_model(args.dataset))
    out_dir = results_dir(args.dataset)
    device = pick_device("auto")
    model, diffusion, _ = load_model(args.checkpoint, device, dataset=args.dataset)
    if args.guide:
        model = Autoguided(model, load_model(args.guide, device, dataset=args.dataset)[0], args.autoguidance)
    classifier, real = load_judge(device, dataset=args.dataset)
    n = args.n or DEFAULT_N[args.part]
    run = dict(model=model, diffusion=diffusion, classifier=classifier, real=real, n=n, seed=args.seed,
               batch_size=args.batch_size, labels=args.labels)
    samples = ROOT / "outputs" / ("reference" if args.dataset == "mnist" else f"{args.dataset}_reference")
    if args.part in ("guided", "unconditional"):
        guidance = args.guidance if args.part == "guided" else None
        result = sample_and_score(**run, guidance=guidance, sampler=args.sampler, checkpoint=args.checkpoint,
                                  save=samples / f"{args.name or args.part}.pt")
    elif args.part in ("sweep", "samplers"):
        settings = ([(w, args.sampler) for w in args.sweep_w] if args.part == "sweep"
                    else [(args.guidance, s) for s in args.samplers])
        result = {"runs": []}
        for w, sampler in settings:
            result["runs"].append(sample_and_score(**run, guidance=w, sampler=sampler))
            print(summary(result["runs"][-1]), flush=True)
    elif args.part == "floors":
        result = real_floors(real, n, args.seed)
    else:
        result = recognisability_curves(model, diffusion, classifier, n, args.guidance, args.seed,
                                        out_dir / "trajectory_strip.png")
    result.update(provenance("reference_quality", argv, device))
    if args.part != "floors":                            # the only part without a model
        result.update(checkpoint=args.checkpoint.rsplit("/", 1)[-1],
                      checkpoint_step=int(load_checkpoint(args.checkpoint)["step"]))
    if args.guide:
        result.update(guide=args.guide.rsplit("/", 1)[-1], autoguidance=args.autoguidance)
    write(result, args.out or out_dir / "reference_quality.json", args.name or args.part)
    return result


if __name__ == "__main__":
    main()
