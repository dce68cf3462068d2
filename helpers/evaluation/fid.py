"""FID and KID on the digit classifier's features, each next to its floor.

Both are computed by torchmetrics on the classifier's 128 penultimate features (Inception
features, the usual choice, are trained on colour photographs: wrong for digits) against
the real test set. Each comes with its **floor**: the same metric for as many real
*training* images as there are samples. FID is biased upwards at small sample counts, so
only the ratio to the floor means anything; real images score at the floor.
"""
from __future__ import annotations

import os

import torch

from ..data import ImageSet, load_images
from .classifier import DigitClassifier
from .inception import KID_SUBSETS, SharedFeatures
from .inception import distances as feature_distances
from .inception import real_metrics as feature_metrics
from .metrics import as_float_images


class ClassifierFeatures(SharedFeatures):
    """The classifier's penultimate layer as a torchmetrics feature extractor.

    images (N, 1, 28, 28), uint8 or float in [-1, 1] -> features (N, 128) float32. Like
    :class:`~helpers.evaluation.inception.SharedFeatures` (which it specialises), it stays in
    eval mode and computes each batch once for FID and KID.
    """

    def __init__(self, classifier: DigitClassifier):
        super().__init__(classifier)
        self.classifier = self.extractor

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(as_float_images(images).to(self.device))


def real_metrics(classifier: DigitClassifier, real: torch.Tensor, subsets: int = KID_SUBSETS) -> tuple:
    """torchmetrics FID and KID objects that already hold the features of ``real`` (N, 1, 28, 28),
    on the classifier's device. Clone them (``metric.clone()``) for each comparison."""
    return feature_metrics(ClassifierFeatures(classifier), real, subsets, batch_size=1000)


def distances(fid_real, kid_real, fake: torch.Tensor, generator: torch.Generator | None = None) -> dict:
    """FID and KID (mean, std over subsets) of ``fake`` (N, 1, 28, 28) against the real features
    held by ``fid_real``/``kid_real`` (from :func:`real_metrics`). KID's random subsets follow
    ``generator``; the global RNG is left untouched."""
    return feature_distances(fid_real, kid_real, fake, generator, batch_size=1000)


class RealImages:
    """Real images to compare samples with: ``test`` (the set FID/KID measure against) and
    ``train`` (the pool the floor draws from), with their features and floors cached in memory.

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

    @property
    def is_full(self) -> bool:
        """True when both sets are the whole splits of their data set (an honest floor)."""
        return self.test.is_full and self.train.is_full

    def describe(self) -> dict:
        """Where the real images came from, for a results file."""
        return {"test": self.test.source, "test_images": len(self.test), "floor_pool": self.train.source}


def load_real_images(classifier: DigitClassifier, root: str | os.PathLike | None = None) -> RealImages:
    """:class:`RealImages` of the classifier's data set from :func:`helpers.data.load_images` (full or fallback)."""
    dataset = classifier.config.dataset
    return RealImages(classifier, load_images(dataset, train=False, root=root),
                      load_images(dataset, train=True, root=root))
