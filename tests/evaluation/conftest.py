"""Fixtures of the judge's tests: the committed classifier, real digits cut into sets, their scores."""
import pytest
import torch

from helpers.data import ImageSet
from helpers.evaluation.classifier import load_classifier
from helpers.evaluation.fid import RealImages
from helpers.evaluation.report import evaluate_samples

N = 1000            # real 'samples' per case (fewer in the offline fallback)


def _subset(data: ImageSet, idx: torch.Tensor, name: str) -> ImageSet:
    return ImageSet(data.images[idx], data.labels[idx], f"{data.source} ({name})", data.class_names)


@pytest.fixture(scope="session")
def classifier():
    return load_classifier()


@pytest.fixture(scope="session")
def split(mnist):
    """Test digits cut in two: a set for FID/KID to measure against, and unseen real 'samples'."""
    train, test = mnist
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))
    half = len(test) // 2
    ref, real = _subset(test, order[:min(half, 2000)], "reference half"), _subset(test, order[half:], "other half")
    return ref, _subset(real, torch.arange(min(N, len(real))), "samples"), train


@pytest.fixture(scope="session")
def real(classifier, split):
    return RealImages(classifier, split[0], split[2], kid_subsets=20)


@pytest.fixture(scope="session")
def real_scores(classifier, split, real):
    return evaluate_samples(classifier, split[1].images, split[1].labels, real)
