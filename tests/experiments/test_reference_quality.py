"""experiments.reference_quality: its parts run end to end on a tiny model and record where they came from."""
import json

import pytest

from experiments import reference_quality
from helpers.io import save_checkpoint
from tests.tiny import tiny_config, tiny_model


@pytest.fixture
def tiny_checkpoint(tmp_path):
    config = tiny_config(num_classes=10)
    path = tmp_path / "tiny.pt"
    save_checkpoint({"config": config.to_dict(), "model": tiny_model(config).state_dict(), "step": 7}, path)
    return path


@pytest.mark.parametrize("part, extra", [("guided", ["--sampler", "ddim:3"]), ("unconditional", ["--sampler", "ddpm:3"]),
                                         ("sweep", ["--sweep-w", "0", "2", "--sampler", "ddim:3"]),
                                         ("samplers", ["--samplers", "ddpm:3", "ddim:3:0.5"])])
def test_parts_write_their_result_with_provenance(part, extra, tiny_checkpoint, judge, tmp_path, monkeypatch):
    monkeypatch.setattr(reference_quality, "load_judge", lambda device, dataset="mnist": judge)
    monkeypatch.setattr(reference_quality, "ROOT", tmp_path)            # samples files go under tmp_path
    out = tmp_path / "rq.json"
    reference_quality.main([part, "--checkpoint", str(tiny_checkpoint), "--n", "20", "--out", str(out), *extra])
    r = json.loads(out.read_text())[part]
    assert r["checkpoint"] == "tiny.pt" and r["checkpoint_step"] == 7
    assert r["command"].startswith(f"python -m experiments.reference_quality {part}") and "hardware" in r
    runs = r.get("runs", [r])
    assert len(runs) == (1 if part in ("guided", "unconditional") else 2)
    assert all(x["n"] == 20 and x["floor"]["n"] == 20 for x in runs)
    if part == "samplers":
        assert [(x["sampler"], x["steps"], x["eta"]) for x in runs] == [("ddpm", 3, None), ("ddim", 3, 0.5)]


def test_unconditional_with_a_guide_records_the_autoguidance(judge, tmp_path, monkeypatch):
    """--guide: the unconditional part samples with autoguidance and says with which guide and weight."""
    monkeypatch.setattr(reference_quality, "load_judge", lambda device, dataset="mnist": judge)
    monkeypatch.setattr(reference_quality, "ROOT", tmp_path)
    config = tiny_config()
    for name, seed in (("model.pt", 0), ("guide.pt", 1)):
        save_checkpoint({"config": config.to_dict(), "model": tiny_model(config, seed).state_dict(), "step": 5},
                        tmp_path / name)
    out = tmp_path / "rq.json"
    common = ["unconditional", "--checkpoint", str(tmp_path / "model.pt"), "--n", "20", "--sampler", "ddpm:3",
              "--out", str(out)]
    reference_quality.main([*common, "--guide", str(tmp_path / "guide.pt"), "--autoguidance", "3", "--name", "ag"])
    reference_quality.main([*common, "--name", "plain"])
    ag, plain = (json.loads(out.read_text())[k] for k in ("ag", "plain"))
    assert (ag["guide"], ag["autoguidance"], ag["n"], ag["accuracy"]) == ("guide.pt", 3.0, 20, None)
    assert "guide" not in plain and ag["distances"] != plain["distances"]


def test_floors_compare_random_and_balanced_real_digits(judge):
    _, real = judge
    result = reference_quality.real_floors(real, 200, seed=0)
    assert result["random"] == real.floor(200, 0)
    assert result["random"]["fid"] > 0 and result["balanced"]["fid"] > 0
    assert result["balanced_over_random_fid"] == pytest.approx(result["balanced"]["fid"] / result["random"]["fid"])
