"""Restoring digits and checking for copies, with the reference model and no retraining.

    python -m experiments.applications inpainting     # 5 masks x (2 baselines, RePaint, RePaint with jumps, DDNM)
    python -m experiments.applications sdedit         # faithfulness against realism along t0
    python -m experiments.applications denoising      # noisy digits: the model against blur and non-local means
    python -m experiments.applications memorisation   # nearest training digits (needs augmentation's digits)

Each part writes its part of results/applications.json (and a figure or two under
results/applications/). Test digits are drawn at random with a fixed seed from MNIST's
test set; the digit classifier judges every output against the original digit's label.
Needs full MNIST.
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as TF
from torchvision.utils import save_image

from experiments.common import RESULTS, REFERENCE, load_judge, provenance, write
from helpers.device import make_generator
from helpers.evaluation.classifier import predict_proba
from helpers.evaluation.memorisation import audit
from helpers.io import load_model
from helpers.restoration import MASKS, inpaint, make_mask, mean_fill, nearest_fill, remove_noise, sdedit
from helpers.sampling import eps_model

OUT = RESULTS / "applications.json"
FIGURES = RESULTS / "applications"
SAMPLER = "ddpm:50"
INPAINTERS = {"repaint": dict(method="repaint"), "repaint_jumps": dict(method="repaint", jump=5, resample=5),
              "ddnm": dict(method="ddnm")}


def pick(data, n: int, seed: int = 0):
    """n images (n, 1, 28, 28) and labels (n,) drawn at random from ``data`` with ``seed``."""
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return data.images[idx], data.labels[idx]


def judged(classifier, images: torch.Tensor, labels: torch.Tensor) -> dict:
    """The judge's accuracy against ``labels`` and its mean confidence (top probability)."""
    p = predict_proba(classifier, images)
    return {"accuracy": round(float((p.argmax(1) == labels).float().mean()), 4),
            "confidence": round(float(p.max(1).values.mean()), 4)}


def _rmse(a: torch.Tensor, b: torch.Tensor, where: torch.Tensor) -> float:
    """Root mean squared difference over the pixels where ``where`` is 1 (images in [-1, 1])."""
    w = where.expand_as(a)
    return round(float((((a - b) ** 2) * w).sum() / w.sum().clamp(min=1)).__pow__(0.5), 4)


def _fill(name: str, model, diffusion, images, mask, real, seed: int) -> torch.Tensor:
    if name == "mean_fill":
        return mean_fill(images, mask, real.train.images.mean(0))
    if name == "nearest_training_digit":
        return nearest_fill(images, mask, real.train.images)
    return inpaint(eps_model(model), diffusion, images, mask, sampler=SAMPLER, generator=make_generator(seed),
                   **INPAINTERS[name])


def _spread(classifier, completions: torch.Tensor, mask: torch.Tensor) -> dict:
    """Over K completions (K, B, 1, 28, 28) of B inputs: distinct judged digits per input, and
    the mean pairwise RMSE between completions on the missing pixels."""
    K = completions.shape[0]
    p = predict_proba(classifier, completions.flatten(0, 1)).argmax(1).view(K, -1)
    distinct = torch.tensor([len(set(p[:, b].tolist())) for b in range(p.shape[1])]).float()
    pairs = [_rmse(completions[i], completions[j], 1 - mask) for i, j in itertools.combinations(range(K), 2)]
    return {"distinct_digits": round(float(distinct.mean()), 2), "max_distinct_digits": int(distinct.max()),
            "pairwise_rmse_missing": round(sum(pairs) / len(pairs), 4)}


def run_inpainting(n: int, spread_inputs: int, spread_k: int, judge, model, diffusion) -> dict:
    """Every mask x method: judged accuracy, RMSE on known and missing pixels, spread, seconds."""
    classifier, real = judge
    images, labels = pick(real.test, n)
    runs = {}
    for m_i, kind in enumerate(MASKS):
        mask = make_mask(kind, n, generator=make_generator(100 + m_i))
        runs[kind] = {}
        for name in ["mean_fill", "nearest_training_digit", *INPAINTERS]:
            start = time.monotonic()
            out = _fill(name, model, diffusion, images, mask, real, seed=m_i)
            r = {**judged(classifier, out, labels), "seconds": round(time.monotonic() - start, 1),
                 "rmse_known": _rmse(out, images, mask), "rmse_missing": _rmse(out, images, 1 - mask)}
            if name in INPAINTERS:
                sub, sub_mask = images[:spread_inputs], mask[:spread_inputs]
                outs = torch.stack([_fill(name, model, diffusion, sub, sub_mask, real, seed=1000 + k)
                                    for k in range(spread_k)])
                r["spread"] = _spread(classifier, outs, sub_mask)
            runs[kind][name] = r
            print(kind, name, r, flush=True)
    return {"runs": runs, "n": n, "spread_inputs": spread_inputs, "spread_completions": spread_k,
            "sampler": SAMPLER, "jumps": INPAINTERS["repaint_jumps"]}


def corrupt(images: torch.Tensor, kind: str) -> torch.Tensor:
    """A rough version of each digit: 'blurred' (Gaussian, sigma 2 px) or 'pixelated' (7x7 blocks)."""
    if kind == "blurred":
        return TF.gaussian_blur(images, kernel_size=13, sigma=2.0)
    if kind == "pixelated":
        small = torch.nn.functional.avg_pool2d(images, 4)
        return torch.nn.functional.interpolate(small, scale_factor=4, mode="nearest")
    raise ValueError(f"unknown corruption {kind!r}; expected 'blurred' or 'pixelated'")


def run_sdedit(n: int, t0s: list[float], judge, model, diffusion) -> dict:
    """For each corruption and t0: distance to the rough input and to the original, and the judge's verdict."""
    classifier, real = judge
    images, labels = pick(real.test, n, seed=1)
    everything = torch.ones(1, 1, 28, 28)
    runs = {}
    for kind in ("blurred", "pixelated"):
        rough = corrupt(images, kind)
        runs[kind] = []
        for t0 in t0s:
            out = sdedit(eps_model(model), diffusion, rough, t0, SAMPLER, make_generator(int(t0 * 1000)))
            r = {"t0": t0, **judged(classifier, out, labels), "rmse_to_input": _rmse(out, rough, everything),
                 "rmse_to_original": _rmse(out, images, everything)}
            runs[kind].append(r)
            print(kind, r, flush=True)
    return {"runs": runs, "n": n, "sampler": SAMPLER}


def _nl_means(noisy: torch.Tensor, sigma: float) -> torch.Tensor:
    """scikit-image's non-local means, image by image, with its h set from the noise level."""
    from skimage.restoration import denoise_nl_means
    out = [denoise_nl_means(x[0].numpy(), h=0.8 * sigma, sigma=sigma, patch_size=3, patch_distance=5)
           for x in noisy]
    return torch.tensor(np.stack(out)).unsqueeze(1).float()


def _best_blur(noisy: torch.Tensor, clean: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Gaussian blur with the width (0.5-3 px) that gives the lowest error on these images: a generous baseline."""
    best = min((float(((TF.gaussian_blur(noisy, 13, s) - clean) ** 2).mean()), s) for s in (0.5, 0.75, 1, 1.5, 2, 3))
    return TF.gaussian_blur(noisy, 13, best[1]).clamp(-1, 1), best[1]


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB for images in [-1, 1] (peak-to-peak range 2)."""
    return round(float(10 * torch.log10(4 / ((a - b) ** 2).mean())), 2)


def run_denoising(n: int, sigmas: list[float], judge, model, diffusion) -> dict:
    """Noisy test digits (Gaussian noise of each sigma): PSNR and judged accuracy per method."""
    classifier, real = judge
    images, labels = pick(real.test, n, seed=2)
    runs = {}
    for sigma in sigmas:
        noisy = images + sigma * torch.randn(images.shape, generator=make_generator(int(sigma * 100)))
        blurred, width = _best_blur(noisy, images)
        outs = {"noisy": noisy.clamp(-1, 1), "gaussian_blur": blurred,
                "non_local_means": _nl_means(noisy, sigma).clamp(-1, 1),
                "model_one_step": remove_noise(eps_model(model), diffusion, noisy, sigma),
                "model_reverse_chain": remove_noise(eps_model(model), diffusion, noisy, sigma, SAMPLER,
                                                    make_generator(0))}
        runs[str(sigma)] = {k: {"psnr_db": psnr(v, images), **judged(classifier, v, labels)} for k, v in outs.items()}
        runs[str(sigma)]["gaussian_blur"]["blur_sigma_px"] = width
        print(sigma, runs[str(sigma)], flush=True)
    return {"runs": runs, "n": n, "sampler": SAMPLER}


def run_memorisation(n: int, judge, pairs: int = 12, figures=FIGURES) -> dict:
    """Nearest training digits of n generated digits (augmentation's) and of n test digits, in pixels and features."""
    from experiments.augmentation import load_generated
    classifier, real = judge
    generated = load_generated().images[:n]
    test = real.test.images[:n]
    pixels = audit(generated, test, real.train.images)
    with torch.no_grad():
        f = [torch.cat([classifier.features(x[i:i + 2000]) for i in range(0, len(x), 2000)])
             for x in (generated, test, real.train.images)]
    features = audit(*f)
    order = pixels["generated_distance"].argsort()[:pairs]
    strip = torch.cat([generated[order], real.train.images[pixels["generated_nearest"][order]]])
    figures.mkdir(parents=True, exist_ok=True)
    big = torch.nn.functional.interpolate((strip + 1) / 2, scale_factor=3, mode="nearest")
    save_image(big, figures / "closest_pairs.png", nrow=pairs, padding=6, pad_value=1.0)
    drop = ("generated_nearest", "generated_distance")
    return {"pixels": {k: v for k, v in pixels.items() if k not in drop},
            "features": {k: v for k, v in features.items() if k not in drop},
            "closest_pairs_distance": [round(float(d), 3) for d in pixels["generated_distance"][order]],
            "n": n, "generated_by": "experiments.augmentation (ddpm:50, w = 1)"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["inpainting", "sdedit", "denoising", "memorisation"])
    parser.add_argument("--n", type=int, default=None, help="test digits (default per part: 300, 300, 300, 10000)")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    judge = load_judge()
    model, diffusion, _ = load_model(REFERENCE)
    start = time.monotonic()
    if args.part == "inpainting":
        record = run_inpainting(args.n or 300, min(16, args.n or 300), 6, judge, model, diffusion)
    elif args.part == "sdedit":
        record = run_sdedit(args.n or 300, [0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0], judge, model, diffusion)
    elif args.part == "denoising":
        record = run_denoising(args.n or 300, [0.2, 0.5, 1.0], judge, model, diffusion)
    else:
        record = run_memorisation(args.n or 10_000, judge, figures=Path(args.out).parent / "applications")
    record["minutes"] = round((time.monotonic() - start) / 60, 1)
    write({**record, **provenance("applications", argv, "cpu")}, args.out, args.part)


if __name__ == "__main__":
    main()
