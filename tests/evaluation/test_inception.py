"""Inception FID/KID for colour images: the whole path on a tiny stand-in feature extractor and the
stand-in CIFAR-10, the floor, and a one-line error where Inception's weights cannot be had."""
import urllib.error
from pathlib import Path

import pytest
import torch
from torch import nn

from helpers.standin import standin_cifar10
from helpers.evaluation import inception
from helpers.evaluation.inception import (INCEPTION_URL, InceptionUnavailable, SharedFeatures, as_uint8_rgb,
                                          inception_features, inception_report)


class PooledColour(nn.Module):
    """A tiny feature extractor: 4x4 average colours (48) and 16 pooled responses of a fixed random
    3x3 convolution (64 features) of uint8 (N, 3, H, W). Counts its calls."""

    num_features = 64
    description = "pooled colours and a fixed random convolution"

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        with torch.no_grad():
            g = torch.Generator().manual_seed(0)
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))
            self.conv.bias.zero_()
        self.calls = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        assert images.dtype == torch.uint8 and images.shape[1] == 3
        self.calls += 1
        x = images.float() / 127.5 - 1
        colours = nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)
        return torch.cat([colours, self.conv(x).relu().mean((2, 3))], 1)


@pytest.fixture(scope="module")
def sets():
    """(train, test) of the stand-in, small: 1,000 and 500 pictures."""
    return standin_cifar10(True, 100), standin_cifar10(False, 50)


def report(images, sets, **kw):
    train, test = sets
    return inception_report(images, test, train, feature=PooledColour(), kid_subsets=10, **kw)


def test_real_images_score_at_the_floor_and_wrong_ones_far_above(sets):
    train, test = sets
    unseen = standin_cifar10(True, 30, torch.Generator().manual_seed(7)).images      # 300 real, unseen pictures
    real = report(unseen, sets)
    assert real["n"] == real["floor"]["n"] == 300
    assert real["floor"]["fid"] > 0 and 0.5 < real["fid_ratio"] < 2, real
    g = torch.Generator().manual_seed(0)
    for name, wrong in {"noise": torch.rand(300, 3, 32, 32, generator=g) * 2 - 1,
                        "swapped colour channels": unseen.flip(1),
                        "one class only": train.images[train.labels == 0][:300]}.items():
        bad = report(wrong, sets)
        assert bad["fid_ratio"] > 3 and bad["kid"] > real["kid"], (name, bad["fid_ratio"])


def test_report_says_what_was_measured_and_is_reproducible(sets):
    images = sets[0].images[-200:]
    a, b = report(images, sets, seed=3), report(images, sets, seed=3)
    assert a == b
    assert a["features"] == "pooled colours and a fixed random convolution, 64 features"
    assert a["test_images"] == 500 and "stand-in" in a["test"] and "training split" in a["floor_pool"]
    assert a["kid_subset_size"] == 200 and set(a["floor"]) >= {"fid", "kid", "kid_std", "n"}
    assert report(images, sets, seed=4)["floor"] != a["floor"]              # the floor's draw follows the seed


def test_uint8_and_float_images_give_the_same_numbers(sets):
    images = sets[1].images[:100]
    as_bytes = ((images + 1) * 127.5).round().to(torch.uint8)
    assert report(images, sets)["fid"] == pytest.approx(report(as_bytes, sets)["fid"], rel=1e-6)


def test_features_are_computed_once_per_batch_for_fid_and_kid(sets):
    extractor = PooledColour()
    inception_report(sets[1].images[:100], sets[1], sets[0], feature=extractor, kid_subsets=5, batch_size=50)
    assert extractor.calls == 500 // 50 + 2 + 2          # test set, floor, samples: one call per batch


def test_bad_images_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"colour images of shape \(N, 3, H, W\), got \(4, 1, 28, 28\)"):
        as_uint8_rgb(torch.zeros(4, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        as_uint8_rgb(torch.full((2, 3, 8, 8), 3.0))
    shared = SharedFeatures(PooledColour())
    assert shared.train().training is False and shared.num_features == 64


def test_offline_inception_raises_one_clear_line(monkeypatch):
    import torchmetrics.image.fid as tm_fid

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")
    monkeypatch.setattr(tm_fid, "NoTrainInceptionV3", offline)
    with pytest.raises(InceptionUnavailable, match="Inception weights could not be downloaded") as err:
        inception_features()
    message = str(err.value)
    assert "\n" not in message and INCEPTION_URL in message and "internet" in message
    with pytest.raises(InceptionUnavailable):                  # the report fails the same way, before any work
        inception_report(torch.zeros(2, 3, 32, 32), standin_cifar10(False, 1), standin_cifar10(True, 1))


def test_missing_torch_fidelity_says_what_to_install(monkeypatch):
    import torchmetrics.image.fid as tm_fid

    def missing(*args, **kwargs):
        raise ModuleNotFoundError("NoTrainInceptionV3 module requires that `Torch-fidelity` is installed.")
    monkeypatch.setattr(tm_fid, "NoTrainInceptionV3", missing)
    with pytest.raises(InceptionUnavailable, match="pip install torchmetrics torch-fidelity"):
        inception_features()
    monkeypatch.setitem(__import__("sys").modules, "torchmetrics.image.fid", None)     # torchmetrics not installed
    with pytest.raises(InceptionUnavailable, match="pip install torchmetrics torch-fidelity"):
        inception_features()


@pytest.mark.skipif(not (Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_URL.rsplit("/", 1)[1]).is_file(),
                    reason="Inception's weights are not in torch's hub cache (they need a download)")
def test_real_inception_features_where_the_weights_are_cached():
    net = inception_features()
    features = inception.SharedFeatures(net)(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    assert features.shape == (2, 2048) and net.num_features == 2048


def test_cli_evaluate_measures_cifar10_samples_on_the_injected_features(sets, tmp_path, capsys, monkeypatch):
    """``python -m helpers evaluate`` on a CIFAR-10 samples file: Inception's path, with the tiny extractor
    standing in for Inception's weights and the stand-in data for CIFAR-10; and one line when offline."""
    import json

    from helpers.__main__ import main
    from helpers.io import save_samples

    train, test = sets
    monkeypatch.setattr("helpers.evaluation.cli.load_images", lambda name, train=True, root=None: sets[not train])
    path = save_samples(test.images[:60], test.labels[:60], tmp_path / "c.pt", {"dataset": "cifar10"})
    real = inception.inception_report
    monkeypatch.setattr(inception, "inception_report",
                        lambda *a, **k: real(*a, feature=PooledColour(), kid_subsets=5, **k))
    assert main(["evaluate", str(path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["dataset"] == "cifar10" and r["n"] == 60 and r["floor"]["n"] == 60 and "pooled colours" in r["features"]
    assert main(["evaluate", str(path), "--no-fid"]) == 2
    assert "no classifier judge" in capsys.readouterr().err

    def offline(*args, **kwargs):
        raise InceptionUnavailable("Inception weights could not be downloaded (offline)")
    monkeypatch.setattr(inception, "inception_report", offline)
    assert main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: Inception weights could not be downloaded (offline)"
