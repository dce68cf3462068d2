"""The digit classifier: the committed checkpoint's accuracy, training determinism, save/load errors.

Runs on full MNIST when DDPM_DATA points at it, else on the offline fallback's 500 held-out digits
(which come from MNIST's training set: the committed classifier has seen them, so
that check is a smoke test, the full-MNIST one is the real measurement).
"""
import json
import warnings

import pytest
import torch

from helpers.io import CheckpointError
from helpers.evaluation.classifier import (DEFAULT_PATH, ClassifierConfig, DigitClassifier, accuracy, fit_and_save,
                                load_classifier, outliers, predict_proba, random_affine, train_classifier)
from helpers.data import ImageSet, load_images

SUBSET = 2000       # test digits checked in the fast test (all of them in the offline fallback)


@pytest.fixture(scope="module")
def test_set() -> ImageSet:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the offline-fallback warning
        data = load_images("mnist", train=False, download=False)
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:SUBSET]
    return ImageSet(data.images[pick], data.labels[pick], data.source, data.class_names)


@pytest.fixture
def small_set(test_set) -> ImageSet:
    return ImageSet(test_set.images[:200], test_set.labels[:200], "small", test_set.class_names)


def test_committed_classifier_record():
    """The checkpoint is small and carries the accuracy measured on the full 10,000 test digits."""
    assert DEFAULT_PATH.stat().st_size < 5e6
    record = json.loads(DEFAULT_PATH.with_suffix(".json").read_text())
    model = load_classifier()
    assert model.info["test_images"] == record["test_images"] == 10_000
    assert model.info["test_accuracy"] == record["test_accuracy"] >= 0.993
    assert "python -m helpers train-classifier" in record["command"][0]


def test_committed_classifier_accuracy_on_a_test_subset(test_set):
    assert accuracy(load_classifier(), test_set) >= 0.99


def test_committed_classifier_is_unsure_about_non_digits(test_set):
    """Outlier exposure: noise and blank images get a near-uniform softmax, real digits do not."""
    g = torch.Generator().manual_seed(0)
    junk = {"uniform noise": torch.rand(200, 1, 28, 28, generator=g) * 2 - 1,
            "gaussian noise": torch.randn(200, 1, 28, 28, generator=g).clamp(-1, 1),
            "blank": -torch.ones(10, 1, 28, 28), "white": torch.ones(10, 1, 28, 28)}
    model = load_classifier()
    for name, x in junk.items():
        assert predict_proba(model, x).max(dim=1).values.mean() < 0.3, name
    assert predict_proba(model, test_set.images[:500]).max(dim=1).values.mean() > 0.95


def test_outliers_are_images_of_the_right_shape():
    digits = torch.rand(8, 1, 28, 28) * 2 - 1
    out = outliers(digits, 12, torch.Generator().manual_seed(0))
    assert out.shape == (12, 1, 28, 28) and out.min() >= -1 and out.max() <= 1
    assert torch.equal(out, outliers(digits, 12, torch.Generator().manual_seed(0)))


def test_shapes_and_features():
    model = DigitClassifier().eval()
    x = torch.zeros(3, 1, 28, 28)
    assert model(x).shape == (3, 10) and model.features(x).shape == (3, model.num_features)
    with pytest.raises(ValueError, match=r"shape \(N, 1, 28, 28\)"):
        model(torch.zeros(3, 28, 28))


def test_augmentation_keeps_shape_and_background():
    x = -torch.ones(4, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1
    out = random_affine(x, ClassifierConfig(), torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= -1 - 1e-5 and out.max() <= 1 + 1e-5
    assert torch.allclose(out[:, :, 0, :], -torch.ones(4, 1, 28))          # border stays background


def test_training_is_deterministic_and_leaves_global_rng(small_set):
    config = ClassifierConfig(epochs=1, batch_size=50, seed=3)
    state = torch.get_rng_state()
    a, b = train_classifier(config, small_set, progress=False), train_classifier(config, small_set, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_fit_and_save_round_trip(small_set, tmp_path):
    out = tmp_path / "clf.pt"
    info = fit_and_save(ClassifierConfig(epochs=1, batch_size=50), small_set, small_set, out,
                        progress=False, command="test")
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["test_accuracy"] == info["test_accuracy"] and record["config"]["epochs"] == 1
    model = load_classifier(out)
    assert model.info["command"] == "test"
    assert accuracy(model, small_set) == pytest.approx(info["test_accuracy"], abs=1e-4)


def test_bad_checkpoints_raise_one_line(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist; train one"):
        load_classifier(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_text("garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_classifier(tmp_path / "bad.pt")
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a digit-classifier checkpoint"):
        load_classifier(tmp_path / "other.pt")
