"""Autoguidance probe: can a weaker copy of the reference steer its digits better than the label can?

    python -m experiments.autoguidance --guide checkpoints/guide_3k.pt --mix 1.25,1 1,2 1,3 1.25,2

Autoguidance (Karras et al. 2024, "Guiding a diffusion model with a bad version of
itself") asks whether a weaker copy of the network can steer samples towards quality
without the loss of diversity that classifier-free guidance brings. For each ``wc,wa``:

    eps = eps(x, c) + (wc - 1) (eps(x, c) - eps(x, null)) + (wa - 1) (eps(x, c) - eps_guide(x, c))

so ``wa = 1`` is classifier-free guidance with w = wc (this course's convention) and
``wc = 1`` is autoguidance alone. Samples with DDIM (``--steps``), labels in MNIST's class
proportions, seed 0, and appends one JSON line per setting to
``results/benchmarks/autoguidance.jsonl``. Needs full MNIST (``DDPM_DATA``).
"""
from __future__ import annotations

import argparse
from pathlib import Path


from experiments.common import REFERENCE, RESULTS, load_judge, provenance, sample_and_score, write
from helpers.io import load_model
from helpers.sampling import Autoguided

OUT = RESULTS / "benchmarks" / "autoguidance.jsonl"


def parse_mix(spec: str) -> tuple[float, float]:
    """'1.25,2' -> (wc, wa)."""
    try:
        wc, wa = (float(v) for v in spec.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--mix takes pairs 'wc,wa' such as 1.25,2; got {spec!r}") from None
    return wc, wa


def score_mix(model, guide, diffusion, classifier, real, n: int, wc: float, wa: float,
              steps: int, seed: int = 0) -> dict:
    """n digits under guidance (wc, wa), sampled and scored: accuracy, FID against the floor, diversity."""
    r = sample_and_score(Autoguided(model, guide, wa, guidance=wc), diffusion, classifier, real, n, guidance=1.0,
                         sampler=f"ddim:{steps}", seed=seed)
    fid, floor = r["distances"]["fid"], r["floor"]["fid"]
    return {"n": n, "steps": steps, "seed": seed, "wc": wc, "wa": wa,
            "accuracy": r["accuracy"], "fid": fid, "floor_fid": floor, "fid_over_floor": fid / floor,
            "within_class_diversity": r["within_class_diversity"], "seconds": r["seconds"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(REFERENCE))
    parser.add_argument("--guide", required=True, help="the weaker model: a checkpoint of the same model family")
    parser.add_argument("--mix", type=parse_mix, nargs="+", default=[(1.25, 1.0), (1.0, 2.0)],
                        help="'wc,wa' pairs: classifier-free and autoguidance weights")
    parser.add_argument("--n", type=int, default=1000, help="digits per setting")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)

    model, diffusion, _ = load_model(args.checkpoint)
    guide, _, _ = load_model(args.guide)
    classifier, real = load_judge("cpu")
    made = {"checkpoint": Path(args.checkpoint).name, "guide": Path(args.guide).name,
            **provenance("autoguidance", argv, "cpu")}
    for wc, wa in args.mix:              # one line per setting, as it finishes
        write({**score_mix(model, guide, diffusion, classifier, real, args.n, wc, wa, args.steps), **made}, args.out)


if __name__ == "__main__":
    main()
