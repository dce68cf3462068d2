"""FID and KID with their floor: real digits at the floor, noise and copies far above it, seeded and cached."""
import pytest
import torch

from helpers.evaluation.fid import load_real_images
from helpers.evaluation.report import evaluate_samples


def test_real_digits_score_near_the_floor(real_scores):
    r = real_scores
    assert r["accuracy"] >= 0.98 and r["share_confident"] >= 0.9
    assert r["classes_seen"] == 10 and r["entropy"] > 0.97
    floor, got = r["floor"], r["distances"]
    assert floor["n"] == r["n"]
    assert got["fid"] < 2 * floor["fid"] + 0.5
    assert abs(got["kid"] - floor["kid"]) < 0.05


def test_noise_and_one_repeated_digit_score_badly(classifier, split, real, real_scores):
    n = real_scores["n"]
    noise = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    copies = split[1].images[:1].expand(n, -1, -1, -1)
    floor = real_scores["floor"]
    bad = {name: evaluate_samples(classifier, images, None, real)
           for name, images in (("noise", noise), ("copies", copies))}
    for r in bad.values():
        assert r["classes_seen"] <= 2 and r["entropy"] < 0.5
        assert r["distances"]["fid"] > 20 * floor["fid"] + 10
        assert r["distances"]["kid"] > floor["kid"] + 0.5
    assert bad["noise"]["mean_confidence"] < 0.3 and bad["noise"]["share_confident"] == 0
    assert bad["copies"]["classes_seen"] == 1 and bad["copies"]["entropy"] == 0


def test_distances_follow_the_generator_and_leave_the_global_rng(real, split):
    fake = split[1].images[:300]
    state = torch.get_rng_state()
    a = real.distances(fake, torch.Generator().manual_seed(5))
    b = real.distances(fake, torch.Generator().manual_seed(5))
    assert a == b and torch.equal(torch.get_rng_state(), state)
    assert real.floor(300) is real.floor(300)          # cached per sample count


@pytest.mark.filterwarnings("ignore::helpers.data.DataFallbackWarning")
def test_load_real_images_uses_the_test_and_training_splits(classifier, monkeypatch):
    monkeypatch.setattr("helpers.data.network_available", lambda *a, **k: False)
    ref = load_real_images(classifier)
    assert len(ref.test) in (10_000, 500) and len(ref.train) in (60_000, 4_500)
    assert ref.is_full == (len(ref.test) == 10_000) and ref.describe()["test_images"] == len(ref.test)
