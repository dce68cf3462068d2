"""Does a text-conditioned model draw what it is told? Class prompts, paired attribute prompts, a held-out pair.

    DDPM_DATA=path/to/MNIST/raw python -m experiments.text_to_digit --checkpoint models/ddpm_text.pt

Three parts, written to ``results/text_to_digit.json`` with machine, date and command:

- ``classes``: n digits asked for as "the digit seven" (the ten class prompts in MNIST's class
  proportions), read by the course's judge: accuracy (does it read the digit asked for), and
  FID against the floor of real digits, as :mod:`experiments.reference_quality` scores them.
- ``pairs``: for every digit, "a thick D" and "a thin D" drawn from the same noise, and likewise
  "a right-leaning D" and "an upright D"; each image's stroke thickness and slant measured by
  :mod:`helpers.morphometry`. The share of pairs where the thick one is thicker (the right-leaning
  one leans further right) is 0.5 when the words are ignored and 1 when they always work.
- ``held_out``: the same for the pairs training never said: "a thick four" against "a thin four",
  "a left-leaning seven" against "an upright seven" (the left one should lean further left).
"""
from __future__ import annotations

import argparse

import torch

from experiments.common import RESULTS, guided_labels, load_judge, provenance, write
from helpers.captions import DIGIT_WORDS, HELD_OUT_PAIRS, attribute_prompt, class_prompts
from helpers.device import make_generator, pick_device
from helpers.evaluation.report import evaluate_samples
from helpers.io import load_checkpoint, load_model
from helpers.morphometry import measure
from helpers.sampling import prompt_condition, sample

# (attribute measured, the prompt's bin, the bin it is compared with, +1: the first should measure more)
CONTRASTS = {"thickness": ("thickness", "thick", "thin", 1), "slant": ("slant", "right", "upright", 1)}
HELD_OUT = {"thick_4": ("thickness", 4, "thick", "thin", 1), "left_7": ("slant", 7, "left", "upright", -1)}


def paired(model, diffusion, digits: list[int], first: str, second: str, attribute: str, sign: int,
           per_digit: int, guidance: float, sampler: str, seed: int) -> dict:
    """Share of same-noise pairs (first-bin prompt, second-bin prompt) whose ``attribute`` differs by ``sign``."""
    labels = torch.tensor(digits).repeat_interleave(per_digit)
    values = []
    for bin_name in (first, second):
        prompts = [attribute_prompt(int(d), bin_name) for d in labels]
        cond = prompt_condition(model, prompts, len(prompts))
        device = next(model.parameters()).device
        images = sample(model, diffusion, len(prompts), cond, guidance, make_generator(seed, device), sampler)
        values.append(measure(images)[attribute])
    wins = (sign * (values[0] - values[1]) > 0).float()
    return {"prompts": [attribute_prompt(d, first) + " / " + attribute_prompt(d, second) for d in digits],
            "pairs": len(wins), "share": round(float(wins.mean()), 4),
            "per_digit": {DIGIT_WORDS[d]: round(float(wins[i * per_digit:(i + 1) * per_digit].mean()), 4)
                          for i, d in enumerate(digits)},
            f"mean_{attribute}": {first: round(float(values[0].mean()), 4), second: round(float(values[1].mean()), 4)}}


def classes(model, diffusion, n: int, guidance: float, sampler: str, seed: int, device) -> dict:
    """n digits from the class prompts, in MNIST's proportions, scored by the judge (accuracy, FID / floor)."""
    classifier, real = load_judge(device)
    labels = guided_labels(n, real)
    prompts = [class_prompts()[int(y)] for y in labels]
    images = sample(model, diffusion, n, prompt_condition(model, prompts, n), guidance,
                    make_generator(seed, device), sampler, 500)
    scores = evaluate_samples(classifier, images, labels, real, seed=seed)
    scores.pop("reference", None)
    return {"n": n, "accuracy": scores["accuracy"], "fid": scores["distances"]["fid"],
            "floor_fid": scores["floor"]["fid"], "fid_over_floor": scores["distances"]["fid"] / scores["floor"]["fid"],
            "scores": scores}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="a text-conditioned model (condition text)")
    p.add_argument("--parts", nargs="+", choices=("classes", "pairs", "held_out"), default=["classes", "pairs", "held_out"])
    p.add_argument("--n", type=int, default=1000, help="digits of 'classes'")
    p.add_argument("--per-digit", type=int, default=50, help="same-noise pairs per digit of 'pairs' and 'held_out'")
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--sampler", default="ddim:50")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "text_to_digit.json"))
    args = p.parse_args(argv)
    device = pick_device("auto")
    model, diffusion, config = load_model(args.checkpoint, device)
    if config.condition != "text":
        raise SystemExit(f"{args.checkpoint} is conditioned on {config.condition}, not text")
    common = dict(guidance=args.guidance, sampler=args.sampler, seed=args.seed)
    result = {"checkpoint": args.checkpoint.rsplit("/", 1)[-1], "checkpoint_step": int(load_checkpoint(args.checkpoint)["step"]),
              **common, "held_out_pairs": [list(p) for p in HELD_OUT_PAIRS]}
    if "classes" in args.parts:
        result["classes"] = classes(model, diffusion, args.n, device=device, **common)
    if "pairs" in args.parts:
        result["pairs"] = {name: paired(model, diffusion, list(range(10)), first, second, attribute, sign, args.per_digit, **common)
                           for name, (attribute, first, second, sign) in CONTRASTS.items()}
    if "held_out" in args.parts:
        result["held_out"] = {name: paired(model, diffusion, [d], first, second, attribute, sign, args.per_digit, **common)
                              for name, (attribute, d, first, second, sign) in HELD_OUT.items()}
    result.update(provenance("text_to_digit", argv, device))
    write(result, args.out, "text_model")
    return result


if __name__ == "__main__":
    main()
