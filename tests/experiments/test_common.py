"""What the experiments share: labels in the data's class mix, sample-and-score, provenance, result files."""
import json

import pytest
import torch

from experiments import common
from helpers.schedule import diffusion_from_config
from tests.tiny import tiny_config, tiny_model


def test_guided_labels_follow_the_class_mix_or_take_turns(judge):
    _, real = judge
    prior = common.guided_labels(500, real, "prior")
    expected = torch.bincount(real.train.labels, minlength=10).double() / len(real.train) * 500
    assert (torch.bincount(prior, minlength=10) - expected).abs().max() < 1
    assert torch.equal(common.guided_labels(20, real, "balanced"), torch.arange(20) % 10)


def test_sample_and_score_records_its_settings_and_scores(judge, tmp_path):
    classifier, real = judge
    config = tiny_config(num_classes=10)
    r = common.sample_and_score(tiny_model(config), diffusion_from_config(config), classifier, real, n=20,
                                guidance=2.0, sampler="ddim:5", batch_size=10, save=tmp_path / "s.pt")
    assert (r["labels"], r["n"], r["sampler"], r["steps"], r["eta"]) == ("prior", 20, "ddim", 5, 0.0)
    assert r["floor"]["n"] == 20 and r["distances"]["fid"] > 0 and 0 <= r["accuracy"] <= 1
    assert r["within_class_diversity"] > 0 and (tmp_path / "s.pt").exists() and "reference" not in r
    s = common.summary(r)
    assert s["fid_over_floor"] == pytest.approx(r["distances"]["fid"] / r["floor"]["fid"], abs=0.01)
    u = common.sample_and_score(tiny_model(config), diffusion_from_config(config), classifier, real, n=12,
                                guidance=None, sampler="ddpm:4")
    assert u["labels"] is None and u["accuracy"] is None and u["eta"] is None and "within_class_diversity" not in u


def test_provenance_says_how_the_result_was_made():
    p = common.provenance("reference_quality", ["guided", "--n", "10"], "cpu")
    assert p["command"] == "python -m experiments.reference_quality guided --n 10"
    assert p["hardware"]["device"] == "cpu" and p["hardware"]["cpu_count"] >= 1 and len(p["date"]) == 10


def test_results_go_to_a_named_part_or_a_new_line(tmp_path):
    common.write({"a": 1}, tmp_path / "r.json", "one")
    common.write({"b": 2}, tmp_path / "r.json", "two")
    assert json.loads((tmp_path / "r.json").read_text()) == {"one": {"a": 1}, "two": {"b": 2}}
    common.emit({"c": 3}, tmp_path / "r.jsonl")
    common.emit({"c": 4}, tmp_path / "r.jsonl")
    assert (tmp_path / "r.jsonl").read_text().count("\n") == 2
    with pytest.raises(ValueError, match="a key is needed"):
        common.write({"a": 1}, tmp_path / "r.json")


def test_experiments_that_need_full_mnist_say_so(monkeypatch, judge):
    monkeypatch.setattr(common, "load_real_images", lambda classifier: type("R", (), {
        "is_full": False, "test": type("T", (), {"source": "the package's 5,000 MNIST digits"})()})())
    with pytest.raises(SystemExit, match="needs full MNIST for an honest floor .* set DDPM_DATA"):
        common.load_judge("cpu")
