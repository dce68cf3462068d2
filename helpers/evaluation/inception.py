"""FID and KID of colour images (CIFAR-10) on Inception features, each next to its floor.

Inception-v3's 2048 pool features (a network trained on ImageNet photographs) are the usual
space in which FID is measured on CIFAR-10: Ho et al. (2020) report FID 3.17 there. torchmetrics
computes both metrics; its Inception network and weights come from torch-fidelity
(``pip install torch-fidelity``), and the weights (about 100 MB) are downloaded into torch's hub
cache on first use. Offline that fails, and :class:`InceptionUnavailable` says so in one line.

As in :mod:`helpers.evaluation.fid`, each number comes with its **floor**: the same metric for
as many real *training* images as there are samples, against the same test images. FID is
biased upwards at small sample counts, so only the ratio to the floor means anything.

Any feature extractor can stand in for Inception (``feature=``): an ``nn.Module`` with an
integer ``num_features`` that maps uint8 images (N, 3, H, W) to features (N, num_features),
as torchmetrics expects. The tests use a tiny one.
"""
from __future__ import annotations

import contextlib
import io
import warnings

import torch
from torch import nn

from ..data import ImageSet
from ..io import to_uint8

INCEPTION_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                 "weights-inception-2015-12-05-6726825d.pth")
INCEPTION_DIM = 2048
KID_SUBSET_SIZE = 1000   # torchmetrics' default; smaller when there are fewer images
KID_SUBSETS = 100


class InceptionUnavailable(RuntimeError):
    """Inception features cannot be computed here (no torch-fidelity, or no weights); one line."""


def inception_features(dim: int = INCEPTION_DIM) -> nn.Module:
    """torchmetrics' Inception-v3 with torch-fidelity's weights: uint8 (N, 3, H, W) -> (N, dim).

    Downloads the weights (about 90 MB) on first use, quietly, into the ``checkpoints`` folder
    of ``torch.hub.get_dir()``. Raises :class:`InceptionUnavailable` (one line, saying how to
    get them) when torch-fidelity is missing or the weights cannot be downloaded.
    """
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
        with contextlib.redirect_stderr(io.StringIO()):     # torch.hub's "Downloading ... to <path>" line
            net = NoTrainInceptionV3(name="inception-v3-compat", features_list=[str(dim)])
    except ModuleNotFoundError:
        raise InceptionUnavailable("Inception features need torchmetrics and torch-fidelity (the package's evaluation "
                                   "extra): pip install torchmetrics torch-fidelity") from None
    except (OSError, RuntimeError) as e:            # urllib's URLError is an OSError
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise InceptionUnavailable(
            f"Inception weights could not be downloaded ({reason}): run once with internet access, or "
            f"download {INCEPTION_URL} into the checkpoints folder of torch.hub.get_dir()") from None
    net.num_features = dim
    net.description = f"Inception-v3 pool features ({dim}, torch-fidelity's weights)"
    return net


class SharedFeatures(nn.Module):
    """A feature extractor as torchmetrics' FID and KID both use it, computed once per batch.

    images (N, 3, H, W), uint8 0..255 or float in [-1, 1] -> features (N, num_features) on the
    extractor's device. FID and KID each call it on the same batch in turn, so it remembers the
    last batch (the same tensor object, unmodified) and its features. Stays in eval mode, and
    ``metric.clone()`` shares it rather than copying the network.
    """

    def __init__(self, extractor: nn.Module):
        super().__init__()
        self.extractor = extractor.eval()
        self.num_features = int(extractor.num_features)
        self._last: tuple | None = None          # (input tensor, its version, features)

    @property
    def device(self) -> torch.device:
        return next(self.extractor.parameters(), torch.empty(0)).device

    def train(self, mode: bool = True) -> SharedFeatures:
        return super().train(False)

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        """The extractor on one batch: (N, 3, H, W) as uint8 RGB -> (N, num_features)."""
        return self.extractor(as_uint8_rgb(images).to(self.device))

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self._last is not None and self._last[0] is images and self._last[1] == images._version:
            return self._last[2]
        features = self._features(images)
        self._last = (images, images._version, features)
        return features

    def __deepcopy__(self, memo: dict) -> SharedFeatures:
        return self


def as_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 or float [-1, 1] images (N, 3, H, W) -> uint8 (N, 3, H, W); a one-line error otherwise."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"Inception FID measures colour images of shape (N, 3, H, W), got {shape} "
                         "(single-channel digits are measured by helpers.evaluation.fid)")
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point() or images.min() < -1.001 or images.max() > 1.001:
        raise ValueError("float images must lie in [-1, 1] (or pass uint8 0..255)")
    return to_uint8(images)


def real_metrics(features: SharedFeatures, real: torch.Tensor, subsets: int = KID_SUBSETS,
                 batch_size: int = 200) -> tuple:
    """torchmetrics FID and KID objects holding the features of ``real`` (the images ``features``
    reads: (N, 3, H, W) here, (N, 1, 28, 28) for :mod:`helpers.evaluation.fid`); clone them per use."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    with warnings.catch_warnings():     # KID warns that it keeps every feature in memory
        warnings.simplefilter("ignore", UserWarning)
        fid = FrechetInceptionDistance(feature=features, reset_real_features=False).to(features.device)
        kid = KernelInceptionDistance(feature=features, subsets=subsets,
                                      reset_real_features=False).to(features.device)
    _update((fid, kid), real, True, batch_size)
    return fid, kid


def _update(metrics: tuple, images: torch.Tensor, real: bool, batch_size: int) -> None:
    """Feed ``images`` to every metric, batch by batch (each batch to all metrics in turn)."""
    for lo in range(0, len(images), batch_size):
        batch = images[lo:lo + batch_size]
        for metric in metrics:
            metric.update(batch, real=real)


def distances(fid_real, kid_real, fake: torch.Tensor, generator: torch.Generator | None = None,
              batch_size: int = 200) -> dict:
    """FID and KID (mean, std over random subsets) of ``fake`` (images as for :func:`real_metrics`)
    against the real features that ``fid_real``/``kid_real`` hold. KID's subsets follow
    ``generator`` (fresh entropy when None); the global random state is left untouched."""
    if len(fake) < 2:
        raise ValueError(f"FID and KID need at least 2 images, got {len(fake)}")
    fid, kid = fid_real.clone(), kid_real.clone()
    _update((fid, kid), fake, False, batch_size)
    kid.subset_size = min(KID_SUBSET_SIZE, len(fake), sum(len(f) for f in kid.real_features))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))  # torchmetrics draws globally
        kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std),
            "kid_subset_size": kid.subset_size}


def inception_report(images: torch.Tensor, test: ImageSet, train: ImageSet, seed: int = 0,
                     feature: nn.Module | None = None, kid_subsets: int = KID_SUBSETS,
                     batch_size: int = 200, device: str | torch.device = "cpu") -> dict:
    """FID and KID of ``images`` (N, 3, H, W; uint8 0..255 or float in [-1, 1]) against ``test``,
    next to the floor: the same for N images of ``train`` (drawn with a generator seeded by ``seed``).

    feature: the extractor (see the module docstring), used on its own device; None: Inception on
    ``device``, which may raise :class:`InceptionUnavailable`. Returns fid, kid, kid_std, floor (the same keys and n),
    fid_ratio (FID over the floor's: 1 is as good as real images), n, features (which were
    used) and where the real images came from.
    """
    extractor = feature if feature is not None else inception_features().to(device)
    shared = SharedFeatures(extractor)
    fid_real, kid_real = real_metrics(shared, as_uint8_rgb(test.images), kid_subsets, batch_size)
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(train), generator=g)[:len(images)]
    floor = {**distances(fid_real, kid_real, as_uint8_rgb(train.images[pick]), g, batch_size), "n": len(pick)}
    result = distances(fid_real, kid_real, as_uint8_rgb(images), g, batch_size)
    described = getattr(extractor, "description", type(extractor).__name__)
    return {**result, "floor": floor, "fid_ratio": result["fid"] / max(floor["fid"], 1e-12), "n": len(images),
            "features": f"{described}, {shared.num_features} features", "test": test.source,
            "test_images": len(test), "floor_pool": train.source, "seed": seed}
