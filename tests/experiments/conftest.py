"""Fixtures of the experiments' tests: the judge on real digits (offline fallback when MNIST is absent)."""
import pytest

from helpers.evaluation.classifier import load_classifier
from helpers.evaluation.fid import RealImages


@pytest.fixture(scope="session")
def judge(mnist):
    """(classifier, RealImages) with few KID subsets: what experiments.common.load_judge gives, faster."""
    classifier = load_classifier()
    train, test = mnist
    return classifier, RealImages(classifier, test, train, kid_subsets=10)
