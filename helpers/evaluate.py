"""Judging generated digits with the digit classifier of :mod:`helpers.classifier`.

What is measured on a batch of images (and their intended labels, if any):

- **accuracy**: share of images the classifier reads as their intended label;
- **recognisability**: mean top-class confidence, and the share of images
  whose top class has confidence above ``threshold`` (0.9);
- **mode coverage**: entropy of the predicted-class histogram divided by
  log(10) (1.0 = every digit equally often, 0 = one digit only), the number of
  classes predicted at least 5 % of the time, and the share of each class;
- **FID and KID** on the classifier's 128 penultimate features, computed by
  torchmetrics against the MNIST test set, each next to its **floor**: the
  same metric for as many real *training* digits as there are samples. FID is
  biased upwards at small sample counts, so only the gap to the floor means
  anything; real digits score at the floor.

Images are either uint8 in 0..255 (what ``python -m helpers sample`` saves) or
floats in [-1, 1] (what the model produces), shape (N, 1, 28, 28).
:func:`trajectory_recognisability` follows the classifier's confidence along a
reverse trajectory; :mod:`helpers.clip_score` adds CLIP's opinion.
"""
from __future__ import annotations

import math
import os
import warnings

import torch
from torch import nn

from .checkpoint import read_torch_file
from .classifier import DigitClassifier, predict_proba
from .data import ImageSet

THRESHOLD = 0.9          # a sample is "confidently recognised" above this top-class probability
MIN_SHARE = 0.05         # a class counts as "seen" when predicted at least this often
KID_SUBSET_SIZE = 1000   # torchmetrics' default; smaller when there are fewer images
KID_SUBSETS = 100


# ----------------------------------------------------------------------------- input checks
def as_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 or float [-1, 1] images (N, 1, 28, 28) -> float32 in [-1, 1], same shape.

    Raises ValueError for another shape, another dtype, or floats outside [-1, 1].
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError("the digit classifier judges 28x28 single-channel digits: images must have "
                         f"shape (N, 1, 28, 28), got {tuple(images.shape)}")
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


# ----------------------------------------------------------------------------- FID and KID
class ClassifierFeatures(nn.Module):
    """The classifier's penultimate layer as a torchmetrics feature extractor.

    images (N, 1, 28, 28), uint8 or float in [-1, 1] -> features (N, 128) float32.
    Stays in eval mode whatever ``train()`` is called with (BatchNorm must not update).
    FID and KID each call it on the same batch in turn, so it remembers the last
    batch (the same tensor object, unmodified) and its features: half the work.
    """

    def __init__(self, classifier: DigitClassifier):
        super().__init__()
        self.classifier = classifier.eval()
        self.num_features = classifier.num_features
        self._last: tuple | None = None          # (input tensor, its version, features)

    def train(self, mode: bool = True) -> "ClassifierFeatures":
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 1, 28, 28), uint8 or float in [-1, 1] -> features (N, 128) on the classifier's device."""
        if self._last is not None and self._last[0] is images and self._last[1] == images._version:
            return self._last[2]
        device = next(self.classifier.parameters()).device
        features = self.classifier.features(as_float_images(images).to(device))
        self._last = (images, images._version, features)
        return features

    def __deepcopy__(self, memo: dict) -> "ClassifierFeatures":
        return self                              # metric.clone() shares the extractor, not a copy


def _seed_from(generator: torch.Generator | None) -> int:
    """A seed drawn from ``generator`` (fresh entropy when None)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator))


def _kid_subset_size(n_real: int, n_fake: int) -> int:
    return min(KID_SUBSET_SIZE, n_real, n_fake)


def _update(metrics: tuple, images: torch.Tensor, real: bool, batch_size: int = 1000) -> None:
    """Feed ``images`` to every metric, batch by batch (each batch to all metrics in turn)."""
    for lo in range(0, len(images), batch_size):
        batch = images[lo:lo + batch_size]
        for metric in metrics:
            metric.update(batch.to(metric.device), real=real)


def real_metrics(classifier: DigitClassifier, real: torch.Tensor, subsets: int = KID_SUBSETS) -> tuple:
    """torchmetrics FID and KID objects that already hold the features of ``real`` (N, 1, 28, 28).

    Clone them (``metric.clone()``) for each comparison; the KID subset size is set per call.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    features = ClassifierFeatures(classifier)
    with warnings.catch_warnings():     # KID warns that it keeps all features: 5 MB for 10,000 here
        warnings.simplefilter("ignore", UserWarning)
        fid = FrechetInceptionDistance(feature=features, reset_real_features=False)
        kid = KernelInceptionDistance(feature=features, subsets=subsets, reset_real_features=False)
    device = next(classifier.parameters()).device       # the metrics live where the classifier does
    fid, kid = fid.to(device), kid.to(device)
    _update((fid, kid), real, real=True)
    return fid, kid


def distances(fid_real, kid_real, fake: torch.Tensor, generator: torch.Generator | None = None) -> dict:
    """FID and KID (mean, std over subsets) of ``fake`` (N, 1, 28, 28) against the real features
    held by ``fid_real``/``kid_real`` (from :func:`real_metrics`). KID's random subsets follow
    ``generator``; the global RNG is left untouched."""
    if len(fake) < 2:
        raise ValueError(f"FID and KID need at least 2 images, got {len(fake)}")
    fid, kid = fid_real.clone(), kid_real.clone()
    _update((fid, kid), fake, real=False)
    n_real = sum(len(f) for f in kid.real_features)
    kid.subset_size = _kid_subset_size(n_real, len(fake))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed_from(generator))            # torchmetrics draws subsets globally
        kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std),
            "kid_subset_size": kid.subset_size}


class Reference:
    """Real digits to compare against: ``test`` (the reference set of FID/KID) and ``train``
    (the pool the floor draws from), with the real features and floors cached in memory.

    The floor for ``n`` samples is FID/KID of ``n`` training digits (chosen with a
    ``torch.Generator`` seeded by ``seed``) against the same test set.
    """

    def __init__(self, classifier: DigitClassifier, test: ImageSet, train: ImageSet,
                 kid_subsets: int = KID_SUBSETS):
        self.classifier, self.test, self.train = classifier, test, train
        self.kid_subsets = kid_subsets
        self._metrics: tuple | None = None
        self._floors: dict[tuple[int, int], dict] = {}

    def metrics(self) -> tuple:
        """(FID, KID) torchmetrics objects holding the test set's features (built once)."""
        if self._metrics is None:
            self._metrics = real_metrics(self.classifier, self.test.images, self.kid_subsets)
        return self._metrics

    def distances(self, images: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """FID/KID of images (N, 1, 28, 28), uint8 or [-1, 1], against the test set."""
        return distances(*self.metrics(), as_float_images(images), generator)

    def floor(self, n: int, seed: int = 0) -> dict:
        """FID/KID of ``n`` training digits against the test set (fewer if the pool is smaller)."""
        key = (n, seed)
        if key not in self._floors:
            g = torch.Generator().manual_seed(seed)
            pick = torch.randperm(len(self.train), generator=g)[:n]
            self._floors[key] = {**self.distances(self.train.images[pick], g), "n": len(pick)}
        return self._floors[key]


def load_reference(classifier: DigitClassifier, root: str | os.PathLike | None = None) -> Reference:
    """A :class:`Reference` on MNIST from :func:`helpers.data.load_images` (full or fallback)."""
    from .data import load_images

    return Reference(classifier, load_images("mnist", train=False, root=root),
                     load_images("mnist", train=True, root=root))


# ----------------------------------------------------------------------------- everything at once
def evaluate_samples(classifier: DigitClassifier, images: torch.Tensor, labels: torch.Tensor | None = None,
                     reference: Reference | None = None, seed: int = 0,
                     threshold: float = THRESHOLD) -> dict:
    """Every classifier metric of images (N, 1, 28, 28) with optional intended labels (N,).

    With a ``reference``, adds ``distances`` (FID/KID against its test set) and ``floor``
    (the same for N real training digits). ``seed`` seeds the floor's choice of digits and
    KID's subsets. Returns a JSON-ready dict.
    """
    x = as_float_images(images)
    labels = check_labels(labels, len(x))
    out = sample_metrics(predict_proba(classifier, x), labels, threshold)
    out["threshold"] = threshold
    if reference is not None:
        out["distances"] = reference.distances(x, torch.Generator().manual_seed(seed))
        out["floor"] = reference.floor(len(x), seed)
        out["reference"] = {"test": reference.test.source, "test_images": len(reference.test),
                            "floor_pool": reference.train.source}
    return out


# ----------------------------------------------------------------------------- along a trajectory
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


# ----------------------------------------------------------------------------- sample files
def load_samples(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """Read a file written by ``python -m helpers sample``: (images uint8 (N, C, H, W), labels or None, meta).

    Raises CheckpointError (missing or unreadable) or ValueError (not a samples dict),
    each with a one-line message naming the file.
    """
    data = read_torch_file(path, "samples file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), torch.Tensor):
        raise ValueError(f"{path} is not a samples file: expected a dict with 'images' (uint8 N x C x H x W) "
                         "and 'labels', as written by 'python -m helpers sample'")
    return data["images"], data.get("labels"), dict(data.get("meta") or {})


def _clip_part(images: torch.Tensor, labels: torch.Tensor | None, probs_labels: torch.Tensor,
               real: ImageSet | None, clip_model: str, clip_pretrained: str, clip_real: int,
               device, seed: int) -> dict:
    """CLIP's report on float images (N, 1, 28, 28), or {'skipped': one line} when CLIP is unavailable."""
    from .clip_score import ClipUnavailable, clip_report, load_clip

    try:
        clip = load_clip(clip_model, clip_pretrained, device)
    except ClipUnavailable as e:
        return {"skipped": str(e)}
    source = "intended" if labels is not None else "classifier's reading"
    real_x = real_y = None
    if real is not None and clip_real > 0:
        pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:clip_real]
        real_x, real_y = real.images[pick], real.labels[pick]
    return clip_report(clip, images, labels if labels is not None else probs_labels, source, real_x, real_y)


def evaluate_file(path: str | os.PathLike, classifier: DigitClassifier, reference: Reference | None = None,
                  clip: bool = True, clip_model: str = "ViT-B-32", clip_pretrained: str = "openai",
                  clip_real: int = 500, real: ImageSet | None = None, device: torch.device | str = "cpu",
                  seed: int = 0, threshold: float = THRESHOLD) -> dict:
    """Everything :mod:`helpers.evaluate` and :mod:`helpers.clip_score` measure on a samples file.

    ``reference`` None skips FID/KID; ``clip`` False skips CLIP. ``real`` (default: the
    reference's test set) gives CLIP ``clip_real`` real digits to read for scale.
    Returns a JSON-ready dict; a CLIP that cannot load leaves ``{'clip': {'skipped': reason}}``.
    """
    images, labels, meta = load_samples(path)
    x = as_float_images(images)
    labels = check_labels(labels, len(x))
    out = {"samples": str(path), "labels_given": labels is not None, "meta": meta,
           "classifier": {"path": getattr(classifier, "path", None),
                          **{k: getattr(classifier, "info", {}).get(k) for k in ("test_accuracy", "test_images")}},
           **evaluate_samples(classifier, x, labels, reference, seed, threshold)}
    if clip:
        real = real if real is not None else (reference.test if reference is not None else None)
        predicted = predict_proba(classifier, x).argmax(dim=1)
        out["clip"] = _clip_part(x, labels, predicted, real, clip_model, clip_pretrained, clip_real, device, seed)
    return out


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def format_report(r: dict) -> str:
    """A few human-readable lines from the dict of :func:`evaluate_file`."""
    shares = " ".join(f"{k}:{s:.2f}" for k, s in enumerate(r["class_share"]))
    c = r["classifier"]
    lines = [f"samples: {r['samples']}: {r['n']} images, "
             + ("with intended labels" if r["labels_given"] else "no labels (unconditional)"),
             f"judge: digit classifier {c.get('path')}, test accuracy {_pct(c.get('test_accuracy'))} "
             f"on {c.get('test_images')} MNIST test digits",
             f"accuracy vs intended labels: {_pct(r['accuracy'])}",
             f"recognisability: mean confidence {r['mean_confidence']:.3f}; "
             f"{_pct(r['share_confident'])} of samples above {r['threshold']}",
             f"mode coverage: entropy {r['entropy']:.3f} of uniform (1 = all digits equally often); "
             f"{r['classes_seen']} classes seen >= {MIN_SHARE:.0%} of the time",
             f"class shares: {shares}"]
    if "distances" in r:
        d, f = r["distances"], r["floor"]
        lines += [f"FID {d['fid']:.3f}   (floor {f['fid']:.3f}: {f['n']} MNIST training digits vs "
                  f"the {r['reference']['test_images']} test digits)",
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
