"""The small CLIP measured: how it reads real digits, and its CLIP score of generated ones.

    DDPM_DATA=path/to/MNIST/raw python -m experiments.clip_score model       # test digits: classes, attributes
    DDPM_DATA=path/to/MNIST/raw python -m experiments.clip_score generated   # real, guided, unguided digits

``model``: zero-shot accuracy on the 10,000 MNIST test digits, retrieval AUC thick-vs-thin and
slanted-vs-upright (by the committed measurements), accuracy with the held-out caption templates
and on the held-out attribute-class pairs. ``generated``: the CLIP score (softmax over the ten class
captions at the image's class) of the real test digits, of 1,000 guided digits from
``models/ddpm_reference.pt`` (w = 1.5, DDIM 25 steps, 100 of each class) and of 1,000 unguided
digits from ``models/uncond_reference.pt`` (DDIM 25 steps; their class: the judge's reading),
beside the judge classifier's numbers on the same images. Each part is written to
``results/clip_small.json`` with its command, machine and date; samples are kept in
``outputs/clip_score/`` (``--sample-only`` makes them and stops).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from experiments.common import ROOT, load_judge, provenance, set_threads, write
from helpers.captions import BINS, HELD_OUT_PAIRS, HELD_OUT_TEMPLATES, TRAIN_TEMPLATES, assign_bins, fit_bins
from helpers.clip_train import load_small_clip
from helpers.device import make_generator
from helpers.evaluation import clip_small as E
from helpers.evaluation.metrics import as_float_images, classify
from helpers.io import load_model, load_samples, save_samples
from helpers.morphometry import load_attributes
from helpers.sampling import parse_labels, sample

MODEL = ROOT / "models" / "clip_small.pt"
SAMPLES = ROOT / "outputs" / "clip_score"
OUT = ROOT / "results" / "clip_small.json"
SETS = {"guided": ("ddpm_reference.pt", 1.5), "unguided": ("uncond_reference.pt", None)}


def held_out_pairs(model, images, labels, codes) -> dict:
    """For each held-out pair (bin, digit): accuracy choosing the bin among its attribute's bins on
    test digits of that class (all, and those in the held-out bin), beside the same on the other classes."""
    out = {}
    for bin_name, digit in HELD_OUT_PAIRS:
        attribute = next(a for a, bins in BINS.items() if bin_name in bins)
        mine = labels == digit
        out[f"{bin_name} {digit}"] = {
            "attribute": attribute,
            "held_out_class": E.attribute_accuracy(model, images[mine], labels[mine], codes[mine], attribute),
            "held_out_class_in_that_bin": E.attribute_accuracy(model, images[mine], labels[mine], codes[mine],
                                                               attribute, only=bin_name),
            "other_classes": E.attribute_accuracy(model, images[~mine], labels[~mine], codes[~mine], attribute)}
    return out


def model_part(model, n_templates: int) -> dict:
    """Every number about the model's reading of the 10,000 test digits (see the module docstring)."""
    attrs = load_attributes()
    test = load_judge("cpu")[1].test
    codes = assign_bins(attrs.split(train=False), fit_bins(attrs.split(train=True)))
    images, labels = test.images, test.labels
    sub = slice(0, n_templates)
    return {"test_images": len(test), "zero_shot_accuracy": E.zero_shot_accuracy(model, images, labels),
            "auc_thick_vs_thin": E.attribute_auc(model, images, labels, codes, "thickness", "thick", "thin"),
            "auc_slanted_right_vs_upright": E.attribute_auc(model, images, labels, codes, "slant", "right", "upright"),
            "auc_slanted_left_vs_upright": E.attribute_auc(model, images, labels, codes, "slant", "left", "upright"),
            "auc_large_vs_small": E.attribute_auc(model, images, labels, codes, "size", "large", "small"),
            "template_images": n_templates,
            "train_templates": {t: E.template_accuracy(model, images[sub], labels[sub], codes[sub], t)
                                for t in TRAIN_TEMPLATES},
            "held_out_templates": {t: E.template_accuracy(model, images[sub], labels[sub], codes[sub], t)
                                   for t in HELD_OUT_TEMPLATES},
            "held_out_pairs": held_out_pairs(model, images, labels, codes)}


def generated_digits(name: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Images (n, 1, 28, 28) and asked labels (n,) or None of set ``name``, sampled once into outputs/."""
    path = SAMPLES / f"{name}.pt"
    if not path.exists():
        checkpoint, guidance = SETS[name]
        model, diffusion, _ = load_model(ROOT / "models" / checkpoint)
        labels = parse_labels("balanced", n, 10) if guidance is not None else None
        images = sample(model, diffusion, n, labels, guidance, make_generator(seed), "ddim:25", batch_size=250)
        save_samples(images, labels, path, {"checkpoint": checkpoint, "guidance": guidance, "sampler": "ddim:25",
                                            "seed": seed, "n": n})
    images, labels, meta = load_samples(path)                   # as stored: 8 bits per pixel
    if meta.get("n") != n or meta.get("seed") != seed:
        raise SystemExit(f"{path} holds {meta.get('n')} digits of seed {meta.get('seed')}, not {n} of seed {seed}: "
                         "delete it to sample again")
    return as_float_images(images), labels


def score_set(model, classifier, images: torch.Tensor, labels: torch.Tensor | None) -> dict:
    """CLIP score (at ``labels``, else at the judge's reading) beside the judge's accuracy and confidence."""
    probs = classify(classifier, images)
    read = probs.argmax(dim=1)
    clip = E.clip_scores(model, images, read if labels is None else labels)
    clip_read = E.class_probabilities(model, images).argmax(dim=1)
    return {**clip, "class_from": "the judge's reading" if labels is None else "the label",
            "judge_accuracy": None if labels is None else float((read == labels).float().mean()),
            "judge_confidence": float(probs.max(dim=1).values.mean()),
            "judge_share_confident": float((probs.max(dim=1).values > 0.9).float().mean()),
            "clip_agrees_with_judge": float((clip_read == read).float().mean())}


def generated_part(model, n: int, seed: int) -> dict:
    """The CLIP score and the judge's numbers of real, guided and unguided digits, and whether they agree."""
    classifier, real = load_judge("cpu")
    sets = {"real": score_set(model, classifier, real.test.images, real.test.labels)}
    for name in SETS:
        sets[name] = score_set(model, classifier, *generated_digits(name, n, seed))
    by_clip = sorted(sets, key=lambda k: -sets[k]["clip_score"])
    by_judge = sorted(sets, key=lambda k: -sets[k]["judge_confidence"])
    return {"sets": sets, "n_generated": n, "seed": seed, "sampler": "ddim:25", "guidance": SETS["guided"][1],
            "order_by_clip_score": by_clip, "order_by_judge_confidence": by_judge,
            "same_order": by_clip == by_judge}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("model", "generated"))
    parser.add_argument("--n", type=int, default=1000, help="generated digits per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--template-images", type=int, default=2000, help="test digits for the template accuracies")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: every core)")
    parser.add_argument("--sample-only", action="store_true", help="make the generated digits and stop")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    if args.sample_only:
        return {name: generated_digits(name, args.n, args.seed)[0].shape for name in SETS}
    model = load_small_clip(MODEL)
    result = model_part(model, args.template_images) if args.part == "model" else generated_part(model, args.n, args.seed)
    result.update(model=MODEL.name, **provenance("clip_score", argv, "cpu"))
    write(result, OUT, args.part)
    return result


if __name__ == "__main__":
    main()
