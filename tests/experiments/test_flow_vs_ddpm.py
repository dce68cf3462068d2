"""experiments.flow_vs_ddpm: the samplers at each call budget, the one-call estimate, and a quick run's records."""
import json
import subprocess
import sys

import pytest
import torch

from experiments.common import ROOT
from experiments.flow_vs_ddpm import sampler_spec
from helpers.device import make_generator
from helpers.flow import LinearPath, solve
from helpers.sampling import trajectory
from tests.tiny import tiny_config, tiny_model


def test_each_method_samples_one_call_per_step_and_one_call_is_refused():
    assert sampler_spec("ddpm", 8) == "ddim:8" and sampler_spec("flow", 25) == "euler:25"
    with pytest.raises(ValueError, match="at least 2 network calls, got 1"):
        sampler_spec("flow", 1)


def test_the_one_call_estimate_of_a_flow_model_is_one_euler_step():
    """The first step's clean-image estimate, which one_call_scores scores, is where euler:1 lands."""
    config = tiny_config(method="flow", num_classes=10)
    model, path = tiny_model(config), LinearPath(config.T)
    labels = torch.tensor([1, 7, 3])
    frames = trajectory(model, path, 3, labels, 2.0, make_generator(0), every=2, sampler="euler:2")
    x_1 = torch.randn((3, 1, 28, 28), generator=make_generator(0))
    guided = lambda x, t: torch.lerp(model(x, t, torch.full_like(labels, 10)), model(x, t, labels), 2.0)  # noqa: E731
    (one,) = list(solve(path, guided, x_1, "euler", 1))
    torch.testing.assert_close(frames["x0"][0], one["sample"], atol=1e-5, rtol=0)


@pytest.mark.slow
def test_a_quick_run_writes_one_part_per_method_with_its_provenance(tmp_path):
    out = tmp_path / "flow_vs_ddpm.json"
    proc = subprocess.run([sys.executable, "-m", "experiments.flow_vs_ddpm", "--quick", "--seeds", "3", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    parts = json.loads(out.read_text())
    assert sorted(parts) == ["ddpm_seed3", "flow_seed3"]
    for method, record in ((k.split("_")[0], v) for k, v in parts.items()):
        assert record["method"] == method and record["seed"] == 3 and record["train_steps"] == 3
        assert record["prediction"] == {"flow": "velocity", "ddpm": "eps"}[method]
        assert "flow_vs_ddpm" in record["command"] and record["hardware"]["device_name"] and record["date"]
        assert [s["network_calls"] for s in record["scores"]] == [1, 2]
        assert [s["sampler"] for s in record["scores"]] == [{"flow": "euler", "ddpm": "ddim"}[method]] * 2
        assert all(0 <= s["accuracy"] <= 1 and s["fid"] > 0 for s in record["scores"])
