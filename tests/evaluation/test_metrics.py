"""The classifier's metrics on known cases: input checks, hand-made probabilities, real digits, trajectories."""
import pytest
import torch

from helpers.evaluation.metrics import (as_float_images, check_labels, classify, first_recognisable_t,
                                        label_accuracy, mode_coverage, recognisability, trajectory_recognisability)
from tests.tiny import tiny_config, tiny_model


def test_uint8_and_float_images_agree(classifier, split):
    x = split[1].images[:50]
    x8 = ((x + 1) * 127.5).round().to(torch.uint8)
    assert torch.allclose(as_float_images(x8), x, atol=1 / 127.5)
    assert torch.allclose(classify(classifier, x8), classify(classifier, x), atol=1e-2)


@pytest.mark.parametrize("images,message", [
    (torch.zeros(4, 28, 28), r"shape \(N, 1, 28, 28\)"),
    (torch.zeros(4, 3, 32, 32), r"shape \(N, 1, 28, 28\)"),
    (torch.zeros(4, 1, 28, 28, dtype=torch.int64), "uint8 .* or float"),
    (torch.full((4, 1, 28, 28), 255.0), r"must lie in \[-1, 1\]"),
    (torch.full((4, 1, 28, 28), float("nan")), "NaN"),
])
def test_bad_images_raise_clear_errors(images, message):
    with pytest.raises(ValueError, match=message):
        as_float_images(images)


def test_bad_labels_raise_clear_errors():
    with pytest.raises(ValueError, match=r"shape \(4,\), one per image"):
        check_labels(torch.zeros(3, dtype=torch.long), 4)
    with pytest.raises(ValueError, match="integers"):
        check_labels(torch.zeros(4), 4)
    with pytest.raises(ValueError, match="in 0..9"):
        check_labels(torch.tensor([0, 1, 2, 10]), 4)


def test_metrics_on_hand_made_probabilities():
    uniform = torch.eye(10).repeat(10, 1)                       # 100 confident predictions, 10 per class
    assert mode_coverage(uniform) == {"entropy": pytest.approx(1.0), "classes_seen": 10, "class_share": [0.1] * 10}
    one = torch.zeros(100, 10)
    one[:, 3] = 1
    assert mode_coverage(one)["entropy"] == 0 and mode_coverage(one)["classes_seen"] == 1
    assert recognisability(uniform) == {"mean_confidence": 1.0, "share_confident": 1.0}
    assert recognisability(torch.softmax(torch.zeros(5, 10), 1))["share_confident"] == 0
    assert label_accuracy(uniform, torch.arange(100) % 10) == 1.0


def test_shuffled_labels_drop_accuracy_to_chance(classifier, split):
    real = split[1]
    probs = classify(classifier, real.images)
    shuffled = real.labels[torch.randperm(len(real), generator=torch.Generator().manual_seed(2))]
    assert label_accuracy(probs, real.labels) >= 0.98
    assert 0.03 < label_accuracy(probs, shuffled) < 0.2


def test_trajectory_recognisability(classifier, split):
    real = split[1]
    x0 = real.images[:40]
    noise = torch.rand(x0.shape, generator=torch.Generator().manual_seed(3)) * 2 - 1
    mix = torch.stack([(1 - a) * noise + a * x0 for a in (0.0, 0.3, 0.7, 1.0)])    # F=4 frames
    curve = trajectory_recognisability(classifier, {"t": torch.tensor([30, 20, 10, 0]), "x0": mix}, real.labels[:40])
    assert curve["share_confident"].shape == (4,) and curve["accuracy"][-1] >= 0.95
    assert curve["share_confident"][0] < 0.5 <= curve["share_confident"][-1]
    t = first_recognisable_t(curve, 0.5)
    assert t in (20, 10, 0) and curve["share_confident"][[30, 20, 10, 0].index(t)] >= 0.5
    assert first_recognisable_t(curve, 1.01) is None
    with pytest.raises(ValueError, match="F = len"):
        trajectory_recognisability(classifier, {"t": torch.tensor([1, 0]), "x0": mix})


def test_trajectory_recognisability_reads_a_real_trajectory(classifier):
    """Shapes line up with helpers.sampling.trajectory (a tiny untrained model: values are junk)."""
    from helpers.sampling import trajectory
    from helpers.schedule import diffusion_from_config

    config = tiny_config(num_classes=10)
    traj = trajectory(tiny_model(config), diffusion_from_config(config), 6, torch.arange(6),
                      generator=torch.Generator().manual_seed(0), every=3)
    curve = trajectory_recognisability(classifier, traj, torch.arange(6))
    assert curve["t"].tolist() == traj["t"].tolist() and curve["accuracy"].shape == traj["t"].shape
    assert ((curve["mean_confidence"] >= 0.1 - 1e-6) & (curve["mean_confidence"] <= 1)).all()
