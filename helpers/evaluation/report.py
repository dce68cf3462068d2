"""Everything the judge measures on a samples file, as one JSON-ready dict and a few lines of text.

``python -m helpers evaluate FILE`` prints :func:`format_report` of :func:`evaluate_file`.
"""
from __future__ import annotations

import os

import torch

from ..config import DATASETS
from ..data import ImageSet
from ..io import load_samples
from .classifier import DigitClassifier, predict_proba
from .fid import RealImages
from .metrics import MIN_SHARE, THRESHOLD, as_float_images, check_labels, sample_metrics


def evaluate_samples(classifier: DigitClassifier, images: torch.Tensor, labels: torch.Tensor | None = None,
                     real: RealImages | None = None, seed: int = 0,
                     threshold: float = THRESHOLD) -> dict:
    """Every classifier metric of images (N, 1, 28, 28) with optional intended labels (N,).

    With ``real``, adds ``distances`` (FID/KID against its test set) and ``floor``
    (the same for N real training images). ``seed`` seeds the floor's choice of digits and
    KID's subsets. Returns a JSON-ready dict.
    """
    x = as_float_images(images)
    labels = check_labels(labels, len(x))
    out = sample_metrics(predict_proba(classifier, x), labels, threshold)
    out["threshold"] = threshold
    if real is not None:
        out["distances"] = real.distances(x, torch.Generator().manual_seed(seed))
        out["floor"] = real.floor(len(x), seed)
        out["reference"] = real.describe()
    return out


def _clip_part(images: torch.Tensor, labels: torch.Tensor | None, probs_labels: torch.Tensor,
               real: ImageSet | None, clip_model: str, clip_pretrained: str, clip_real: int,
               device, seed: int, dataset: str = "mnist") -> dict:
    """CLIP's report on float images (N, 1, 28, 28), or {'skipped': one line} when CLIP is unavailable."""
    from .clip import PROMPTS, ClipUnavailable, clip_report, load_clip

    try:
        clip = load_clip(clip_model, clip_pretrained, device)
    except ClipUnavailable as e:
        return {"skipped": str(e)}
    source = "intended" if labels is not None else "classifier's reading"
    real_x = real_y = None
    if real is not None and clip_real > 0:
        pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:clip_real]
        real_x, real_y = real.images[pick], real.labels[pick]
    return clip_report(clip, images, labels if labels is not None else probs_labels, source, real_x, real_y,
                       PROMPTS[dataset], DATASETS[dataset].classes)


def evaluate_file(path: str | os.PathLike, classifier: DigitClassifier, real: RealImages | None = None,
                  clip: bool = True, clip_model: str = "ViT-B-32", clip_pretrained: str = "openai",
                  clip_real: int = 500, device: torch.device | str = "cpu",
                  seed: int = 0, threshold: float = THRESHOLD) -> dict:
    """Everything the judge measures on a samples file (metrics, FID/KID, CLIP).

    ``real`` None skips FID/KID; ``clip`` False skips CLIP, which otherwise also reads
    ``clip_real`` of the real test images, for scale.
    Returns a JSON-ready dict; a CLIP that cannot load leaves ``{'clip': {'skipped': reason}}``.
    """
    images, labels, meta = load_samples(path)
    x = as_float_images(images)
    labels = check_labels(labels, len(x))
    out = {"samples": str(path), "labels_given": labels is not None, "meta": meta,
           "classifier": {"path": getattr(classifier, "path", None), "dataset": classifier.config.dataset,
                          **{k: getattr(classifier, "info", {}).get(k) for k in ("test_accuracy", "test_images")}},
           **evaluate_samples(classifier, x, labels, real, seed, threshold)}
    if clip:
        predicted = predict_proba(classifier, x).argmax(dim=1)
        out["clip"] = _clip_part(x, labels, predicted, None if real is None else real.test, clip_model,
                                 clip_pretrained, clip_real, device, seed, classifier.config.dataset)
    return out


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def format_report(r: dict) -> str:
    """A few human-readable lines from the dict of :func:`evaluate_file`."""
    shares = " ".join(f"{k}:{s:.2f}" for k, s in enumerate(r["class_share"]))
    c = r["classifier"]
    lines = [f"samples: {r['samples']}: {r['n']} images, "
             + ("with intended labels" if r["labels_given"] else "no labels (unconditional)"),
             f"judge: {c.get('dataset')} classifier {c.get('path')}, test accuracy {_pct(c.get('test_accuracy'))} "
             f"on {c.get('test_images')} test images",
             f"accuracy vs intended labels: {_pct(r['accuracy'])}",
             f"recognisability: mean confidence {r['mean_confidence']:.3f}; "
             f"{_pct(r['share_confident'])} of samples above {r['threshold']}",
             f"mode coverage: entropy {r['entropy']:.3f} of uniform (1 = all digits equally often); "
             f"{r['classes_seen']} classes seen >= {MIN_SHARE:.0%} of the time",
             f"class shares: {shares}"]
    if "distances" in r:
        d, f = r["distances"], r["floor"]
        lines += [f"FID {d['fid']:.3f}   (floor {f['fid']:.3f}: {f['n']} real training images vs "
                  f"the {r['reference']['test_images']} test images)",
                  f"KID {d['kid']:.5f} +- {d['kid_std']:.5f}   (floor {f['kid']:.5f} +- {f['kid_std']:.5f})"]
    clip = r.get("clip")
    if clip and "skipped" not in clip:
        lines.append(f"CLIP ({clip['model']}, labels: {clip['labels']}): score {clip['clip_score']:.2f}, "
                     f"zero-shot accuracy {_pct(clip['zero_shot_accuracy'])}")
        if "real_digits" in clip:
            rd = clip["real_digits"]
            lines.append(f"CLIP on {rd['n']} real test digits: score {rd['clip_score']:.2f}, zero-shot "
                         f"accuracy {_pct(rd['zero_shot_accuracy'])} (digit classifier: "
                         f"{_pct(c.get('test_accuracy'))})")
    return "\n".join(lines)
