"""Measure the reference checkpoint: guided and unconditional quality, the guidance sweep, DDIM vs DDPM.

    python scripts/reference_quality.py guided          # 10,000 guided digits (DDIM over --steps, w=2)
    python scripts/reference_quality.py unconditional   # 10,000 unconditional digits (DDIM over --steps)
    python scripts/reference_quality.py sweep           # 1,000 digits per w in 0..5 (DDIM over --steps)
    python scripts/reference_quality.py samplers        # 1,000 digits: DDPM-300, DDIM-50/25/10 (--samplers)
    python scripts/reference_quality.py trajectory      # 100 DDPM-300 trajectories, classifier on every frame
    python scripts/reference_quality.py floors          # real digits only: the floor, random vs class-balanced

``--sampler ddpm:50`` (or ``ddim:S:ETA``) replaces DDIM over ``--steps`` in the first three.
Each part samples with a fixed seed, scores with the project's evaluation (digit classifier,
FID/KID on its features next to the train-vs-test floor at the same sample count) and merges
its result into ``results/reference_quality.json`` (committed), with the command, settings,
seconds and hardware. Samples go to ``outputs/reference/`` (not committed); re-score them with
``python -m helpers evaluate outputs/reference/<part>.pt``. Needs full MNIST (``DDPM_DATA``);
``--n`` makes a quick, smaller run for trying the script out.

Guided digits are asked for in MNIST's class proportions (``--labels prior``, the training
set's class sizes; :func:`helpers.sampling.prior_labels`), so that a perfect model would
score at the floor. ``--labels balanced`` asks for every digit equally often; then even real
digits drawn 1,000 per class sit above the floor at 10,000 (the ``floors`` part measures it).
"""
from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import time
from pathlib import Path

import torch
import torchvision

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers.checkpoint import load_checkpoint, load_model, save_json  # noqa: E402
from helpers.classifier import load_classifier  # noqa: E402
from helpers.device import hardware, make_generator, pick_device  # noqa: E402
from helpers.evaluate import (evaluate_samples, first_recognisable_t, load_reference,  # noqa: E402
                              trajectory_recognisability, within_class_diversity)
from helpers.sampling import parse_labels, prior_labels, sample_many, save_samples, trajectory  # noqa: E402

DEFAULTS = {"guided": 10_000, "unconditional": 10_000, "sweep": 1_000, "samplers": 1_000, "trajectory": 100,
            "floors": 10_000}
SWEEP_W = [0.0, 1.0, 2.0, 3.0, 5.0]
SAMPLERS = [("ddpm", 300, 0.0), ("ddim", 50, 0.0), ("ddim", 25, 0.0), ("ddim", 10, 0.0)]


def parse_sampler(spec: str) -> tuple[str, int, float]:
    """'ddim:25' -> ('ddim', 25, 0.0); 'ddim:50:0.5' -> ('ddim', 50, 0.5): a sampler over a chain
    respaced to that many steps, with DDIM's eta (0 unless given; DDPM has none)."""
    match = re.fullmatch(r"(ddpm:([1-9][0-9]*))|(ddim:([1-9][0-9]*)(?::(0(?:\.[0-9]+)?|1(?:\.0*)?))?)", spec)
    if not match:
        raise argparse.ArgumentTypeError("samplers are written ddpm:STEPS, ddim:STEPS or ddim:STEPS:ETA "
                                         f"(eta in [0, 1]), e.g. ddim:25; got {spec!r}")
    if match[1]:
        return "ddpm", int(match[2]), 0.0
    return "ddim", int(match[4]), float(match[5] or 0)


def guided_labels(n: int, reference, how: str) -> torch.Tensor:
    """n labels (n,): in the training set's class proportions ('prior') or 0..9 in turn ('balanced')."""
    if how == "balanced":
        return parse_labels("balanced", n, 10)
    return prior_labels(n, torch.bincount(reference.train.labels, minlength=10))


def run_one(model, diffusion, classifier, reference, n: int, guidance: float | None, sampler: str,
            steps: int, seed: int, batch_size: int, labels_from: str = "prior", save: Path | None = None,
            checkpoint: str = "", eta: float = 0.0) -> dict:
    """Sample n digits (labelled as ``labels_from`` says, none when guidance is None) and score
    them; one JSON-ready dict."""
    labels = None if guidance is None else guided_labels(n, reference, labels_from)
    device = next(model.parameters()).device
    chain = diffusion.respaced(steps)
    start = time.monotonic()
    images = sample_many(model, chain, n, labels, guidance, make_generator(seed, device), batch_size,
                         sampler=sampler, eta=eta)
    seconds = time.monotonic() - start
    settings = {"n": n, "guidance": guidance, "labels": None if guidance is None else labels_from,
                "sampler": sampler, "steps": steps, "eta": eta if sampler == "ddim" else None, "seed": seed,
                "seconds": round(seconds, 1), "images_per_s": round(n / seconds, 2)}
    if save is not None:
        save_samples(images, labels, save, {**settings, "checkpoint": checkpoint})
    scores = evaluate_samples(classifier, images, labels, reference, seed=seed)
    if labels is not None:
        scores["within_class_diversity"] = within_class_diversity(classifier, images, labels, reference.test)
    scores.pop("reference", None)
    print(json.dumps({**settings, "accuracy": scores["accuracy"], "fid": scores["distances"]["fid"],
                      "floor_fid": scores["floor"]["fid"]}), flush=True)
    return {**settings, **scores}


def recognisability_curves(model, diffusion, classifier, n: int, guidance: float, seed: int) -> dict:
    """Classifier accuracy on x_t and on the x0 estimate at every step of n DDPM trajectories."""
    labels = torch.arange(n) % 10
    start = time.monotonic()
    traj = trajectory(model, diffusion, n, labels, guidance,
                      make_generator(seed, next(model.parameters()).device))
    curves = {key: trajectory_recognisability(classifier, traj, labels, key=key) for key in ("x_t", "x0")}
    first = {key: {f"{share:.0%}": first_recognisable_t(c, share, "accuracy") for share in (0.5, 0.9)}
             for key, c in curves.items()}
    print(json.dumps(first), flush=True)
    picks = torch.linspace(0, len(traj["t"]) - 1, 8).round().long()       # 8 frames, noise to digit
    strip = torch.cat([traj["x_t"][picks, :10], traj["x0"][picks, :10].clamp(-1, 1)]).flatten(0, 1)
    (ROOT / "results").mkdir(exist_ok=True)
    torchvision.utils.save_image((strip + 1) / 2, ROOT / "results" / "trajectory_strip.png", nrow=10, padding=1)
    return {"strip_t": traj["t"][picks].tolist(), "n": n, "guidance": guidance, "sampler": "ddpm", "steps": diffusion.T, "seed": seed,
            "schedule": diffusion.schedule, "T": diffusion.T, "seconds": round(time.monotonic() - start, 1),
            "metric": "accuracy", "first_t": first, "t": curves["x0"]["t"].tolist(),
            "curves": {key: {k: (None if v is None else v.tolist()) for k, v in c.items() if k != "t"}
                       for key, c in curves.items()}}


def real_floors(reference, n: int, seed: int) -> dict:
    """FID of n real training digits against the test set: drawn at random (the floor) and
    drawn n/10 per class (what balanced labels ask a perfect model for)."""
    g = torch.Generator().manual_seed(seed)
    balanced = torch.cat([idx[torch.randperm(len(idx), generator=g)[:n // 10]]
                          for idx in (torch.nonzero(reference.train.labels == c).flatten() for c in range(10))])
    result = {"n": n, "seed": seed, "random": reference.floor(n, seed),
              "balanced": reference.distances(reference.train.images[balanced], torch.Generator().manual_seed(seed))}
    result["balanced_over_random_fid"] = result["balanced"]["fid"] / result["random"]["fid"]
    print(json.dumps({"n": n, "random_fid": result["random"]["fid"], "balanced_fid": result["balanced"]["fid"]}))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=sorted(DEFAULTS))
    parser.add_argument("--checkpoint", default=str(ROOT / "models" / "ddpm_reference.pt"))
    parser.add_argument("--n", type=int, help="samples per setting (default: 10,000 or 1,000 by part)")
    parser.add_argument("--guidance", type=float, default=2.0, help="w for 'guided' and 'samplers' (default 2)")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps for guided, unconditional, sweep")
    parser.add_argument("--sampler", type=parse_sampler,
                        help="sampler of guided, unconditional and sweep instead of DDIM over --steps: "
                             "ddpm:STEPS or ddim:STEPS[:ETA], e.g. ddpm:50")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--labels", choices=("prior", "balanced"), default="prior",
                        help="guided labels: MNIST's class proportions (default) or 0..9 in turn")
    parser.add_argument("--sweep-w", type=float, nargs="+", default=SWEEP_W, help="guidance weights of 'sweep'")
    parser.add_argument("--samplers", type=parse_sampler, nargs="+", default=SAMPLERS,
                        help="samplers of 'samplers': ddpm:STEPS or ddim:STEPS[:ETA] "
                             "(default ddpm:300 ddim:50 ddim:25 ddim:10)")
    parser.add_argument("--name", help="key of the result in --out (default: the part's name)")
    parser.add_argument("--out", default=str(ROOT / "results" / "reference_quality.json"))
    args = parser.parse_args()

    device = pick_device("auto")
    model, diffusion, config = load_model(args.checkpoint, device)
    classifier = load_classifier(None, device)
    reference = load_reference(classifier)
    if "MNIST at" not in reference.test.source:
        raise SystemExit(f"needs full MNIST for an honest floor (got {reference.test.source}); set DDPM_DATA")
    n = args.n or DEFAULTS[args.part]
    common = dict(model=model, diffusion=diffusion, classifier=classifier, reference=reference, n=n,
                  seed=args.seed, batch_size=args.batch_size, labels_from=args.labels)
    samples = ROOT / "outputs" / "reference"
    name, steps, eta = args.sampler or ("ddim", args.steps, 0.0)
    chosen = dict(sampler=name, steps=steps, eta=eta)
    if args.part == "guided":
        result = run_one(**common, **chosen, guidance=args.guidance, save=samples / "guided.pt",
                         checkpoint=args.checkpoint)
    elif args.part == "unconditional":
        result = run_one(**common, **chosen, guidance=None, save=samples / "unconditional.pt",
                         checkpoint=args.checkpoint)
    elif args.part == "sweep":
        result = {"runs": [run_one(**common, **chosen, guidance=w) for w in args.sweep_w]}
    elif args.part == "samplers":
        result = {"runs": [run_one(**common, guidance=args.guidance, sampler=s, steps=k, eta=e)
                           for s, k, e in args.samplers]}
    elif args.part == "floors":
        result = real_floors(reference, n, args.seed)
    else:
        result = recognisability_curves(model, diffusion, classifier, n, args.guidance, args.seed)
    result.update(command="python scripts/reference_quality.py " + " ".join(sys.argv[1:]),
                  hardware=hardware(device), date=datetime.date.today().isoformat())
    if args.part != "floors":                            # the only part without a model
        result.update(checkpoint=Path(args.checkpoint).name,
                      checkpoint_step=int(load_checkpoint(args.checkpoint)["step"]))
    out = Path(args.out)
    everything = json.loads(out.read_text()) if out.exists() else {}
    everything[args.name or args.part] = result
    save_json(everything, out)
    print(f"wrote part {args.name or args.part!r} to {out}")


if __name__ == "__main__":
    main()
