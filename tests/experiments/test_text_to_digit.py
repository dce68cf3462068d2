"""experiments.text_to_digit on a tiny text model: paired prompts at the same noise, and where results go."""
import json

import torch

from experiments import text_to_digit
from helpers.data import fallback_digits
from helpers.train import train
from tests.tiny import tiny_config


def test_paired_prompts_are_scored_and_written(tmp_path, monkeypatch, judge):
    digits = fallback_digits()
    data = type(digits)(digits.images[::140][:32], digits.labels[::140][:32], "32 digits", digits.class_names, "mnist")
    ckpt = tmp_path / "text.pt"
    train(tiny_config(max_steps=1, condition="text", num_classes=10), data, out=ckpt, device=torch.device("cpu"),
          progress=False)
    monkeypatch.setattr(text_to_digit, "load_judge", lambda device: judge)
    out = tmp_path / "text_to_digit.json"
    text_to_digit.main(["--checkpoint", str(ckpt), "--n", "20", "--per-digit", "2", "--sampler", "ddim:2",
                        "--out", str(out)])
    result = json.loads(out.read_text())["text_model"]
    assert result["pairs"]["thickness"]["pairs"] == 20 and 0 <= result["pairs"]["slant"]["share"] <= 1
    assert result["pairs"]["thickness"]["prompts"][4] == "a thick four / a thin four"
    assert set(result["held_out"]) == {"thick_4", "left_7"} and result["held_out"]["left_7"]["pairs"] == 2
    assert result["classes"]["n"] == 20 and 0 <= result["classes"]["accuracy"] <= 1
    assert result["command"].startswith("python -m experiments.text_to_digit") and result["date"]
