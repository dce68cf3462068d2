"""What the digit classifier says about generated images, one number per property.

On a batch of images (and their intended labels, if any):

- **accuracy**: share of images the classifier reads as their intended label;
- **recognisability**: mean top-class confidence, and the share of images
  whose top class has confidence above ``threshold`` (0.9);
- **mode coverage**: entropy of the predicted-class histogram divided by
  log(K) (1.0 = every class equally often, 0 = one class only), the number of
  classes predicted at least 5 % of the time, and the share of each class;
- **within-class diversity**, and recognisability along a reverse trajectory.

Images are either uint8 in 0..255 (what ``python -m helpers sample`` saves) or
floats in [-1, 1] (what the model produces), shape (N, 1, 28, 28). FID and KID are in
:mod:`helpers.evaluation.fid`, CLIP in :mod:`helpers.evaluation.clip`.
"""
from __future__ import annotations

import math

import torch

from ..data import ImageSet
from .classifier import DigitClassifier, predict_proba

THRESHOLD = 0.9          # a sample is "confidently recognised" above this top-class probability
MIN_SHARE = 0.05         # a class counts as "seen" when predicted at least this often


# ----------------------------------------------------------------------------- input checks
def as_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 or float [-1, 1] images (N, 1, 28, 28) -> float32 in [-1, 1], same shape.

    Raises ValueError for another shape, another dtype, or floats outside [-1, 1].
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError("the classifiers judge 28x28 single-channel images (MNIST, Fashion-MNIST): images "
                         f"must have shape (N, 1, 28, 28), got {tuple(images.shape)} (colour images are "
                         "measured with Inception features, helpers.evaluation.inception)")
    if images.dtype == torch.uint8:
        return images.float().div(127.5).sub(1.0)
    if not images.is_floating_point():
        raise ValueError(f"images must be uint8 (0..255) or float (-1..1), got dtype {images.dtype}")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or infinite values (did sampling diverge?)")
    if images.numel() and (images.min() < -1.001 or images.max() > 1.001):
        raise ValueError(f"float images must lie in [-1, 1], got values from {float(images.min()):.3g} "
                         f"to {float(images.max()):.3g}; clamp them, or pass uint8 0..255")
    return images.float()


def check_labels(labels: torch.Tensor | None, n: int, num_classes: int = 10) -> torch.Tensor | None:
    """None, or integer labels (n,) in 0..num_classes-1 -> LongTensor (n,) on the CPU."""
    if labels is None:
        return None
    labels = torch.as_tensor(labels)
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), one per image, got {tuple(labels.shape)}")
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be in 0..{num_classes - 1}, got values from "
                         f"{int(labels.min())} to {int(labels.max())}")
    return labels.long().cpu()


# ----------------------------------------------------------------------------- per-sample metrics
def classify(classifier: DigitClassifier, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Class probabilities (N, 10) for uint8 or [-1, 1] float images (N, 1, 28, 28)."""
    return predict_proba(classifier, as_float_images(images), batch_size)


def recognisability(probs: torch.Tensor, threshold: float = THRESHOLD) -> dict:
    """From probabilities (N, K): ``mean_confidence`` (mean top-class probability) and
    ``share_confident`` (share of images whose top-class probability exceeds ``threshold``)."""
    top = probs.max(dim=1).values
    return {"mean_confidence": float(top.mean()), "share_confident": float((top > threshold).float().mean())}


def label_accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of rows of ``probs`` (N, K) whose argmax equals ``labels`` (N,)."""
    labels = check_labels(labels, probs.shape[0], probs.shape[1])
    return float((probs.argmax(dim=1) == labels).float().mean())


def mode_coverage(probs: torch.Tensor, min_share: float = MIN_SHARE) -> dict:
    """How evenly the predicted classes of ``probs`` (N, K) spread over the K classes.

    ``entropy``: entropy of the predicted-class histogram / log K (1 = uniform, 0 = one class);
    ``classes_seen``: classes predicted at least ``min_share`` of the time;
    ``class_share``: list of K shares summing to 1.
    """
    k = probs.shape[1]
    share = torch.bincount(probs.argmax(dim=1), minlength=k).double() / max(1, probs.shape[0])
    nonzero = share[share > 0]
    entropy = max(0.0, float(-(nonzero * nonzero.log()).sum() / math.log(k)))
    return {"entropy": entropy, "classes_seen": int((share >= min_share).sum()),
            "class_share": [round(float(s), 4) for s in share]}


def sample_metrics(probs: torch.Tensor, labels: torch.Tensor | None = None,
                   threshold: float = THRESHOLD) -> dict:
    """All classifier-based metrics of probabilities (N, K): accuracy (None without labels),
    recognisability and mode coverage, as one flat dict."""
    acc = None if labels is None else label_accuracy(probs, labels)
    return {"n": int(probs.shape[0]), "accuracy": acc, **recognisability(probs, threshold),
            **mode_coverage(probs)}


def within_class_diversity(classifier: DigitClassifier, images: torch.Tensor, labels: torch.Tensor,
                           real: ImageSet, num_classes: int = 10) -> float:
    """How varied the samples of each class are, relative to real digits of that class.

    For each class c: total variance (trace of the covariance) of the classifier's features
    over samples *intended* as c, divided by the same for the real digits labelled c; the
    mean over classes. 1.0 = as varied as real digits; guidance that collapses each class
    to a few prototypes pushes it towards 0. images: (N, 1, 28, 28); labels: (N,).
    """
    labels = check_labels(labels, len(images), num_classes)

    def total_variance(x: torch.Tensor) -> float:
        f = feature_batches(classifier, as_float_images(x))
        return float(f.var(dim=0).sum())

    ratios = [total_variance(images[labels == c]) / total_variance(real.images[real.labels == c])
              for c in range(num_classes) if int((labels == c).sum()) > 1]
    if not ratios:
        raise ValueError("within-class diversity needs at least two samples of some class")
    return sum(ratios) / len(ratios)


@torch.no_grad()
def feature_batches(classifier: DigitClassifier, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The classifier's penultimate features (N, F) of [-1, 1] images (N, 1, 28, 28), in batches."""
    device = next(classifier.parameters()).device
    classifier.eval()
    return torch.cat([classifier.features(x[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(x), batch_size)])


def trajectory_recognisability(classifier: DigitClassifier, traj: dict, labels: torch.Tensor | None = None,
                               threshold: float = THRESHOLD, key: str = "x0") -> dict:
    """The classifier's view of each frame of a reverse trajectory.

    traj: as returned by :func:`helpers.sampling.trajectory`: ``t`` (F,) and ``key``
    (default ``x0``, the model's estimate of the clean image) of shape (F, n, 1, 28, 28).
    labels: intended labels (n,) or None. Returns ``t`` (F,) and, per frame,
    ``mean_confidence`` (F,), ``share_confident`` (F,) and ``accuracy`` (F,) or None.
    """
    frames, t = traj[key], torch.as_tensor(traj["t"])
    if frames.ndim != 5 or frames.shape[0] != t.shape[0]:
        raise ValueError(f"traj[{key!r}] must have shape (F, n, C, H, W) with F = len(traj['t']) = "
                         f"{t.shape[0]}, got {tuple(frames.shape)}")
    n_frames, n = frames.shape[:2]
    labels = check_labels(labels, n)
    probs = classify(classifier, frames.clamp(-1, 1).reshape(n_frames * n, *frames.shape[2:]))
    probs = probs.reshape(n_frames, n, -1)
    top = probs.max(dim=2).values
    acc = None if labels is None else (probs.argmax(dim=2) == labels).float().mean(dim=1)
    return {"t": t, "mean_confidence": top.mean(dim=1), "share_confident": (top > threshold).float().mean(dim=1),
            "accuracy": acc}


def first_recognisable_t(curve: dict, min_share: float = 0.5, metric: str = "share_confident") -> int | None:
    """Going from t = T-1 down to 0, the first t at which ``curve[metric]`` reaches ``min_share``.

    curve: output of :func:`trajectory_recognisability`. None if the threshold is never reached.
    """
    values = curve[metric]
    if values is None:
        raise ValueError(f"the curve has no {metric!r} (accuracy needs intended labels)")
    for i in torch.argsort(torch.as_tensor(curve["t"]), descending=True).tolist():
        if float(values[i]) >= min_share:
            return int(curve["t"][i])
    return None
