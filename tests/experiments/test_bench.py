"""make bench's quick mode: every benchmark runs end to end and prints well-formed figures.

The figures of a quick run mean nothing (3 training steps, 10-20 samples); what is checked is
that each benchmark trains, samples, scores and reports what it promises, with sane values.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.common import ROOT
from experiments.summarize import tables
from helpers.config import Config


def run(module: str, tmp_path: Path, *args: str) -> list[dict]:
    out = tmp_path / "bench.jsonl"
    proc = subprocess.run([sys.executable, "-m", f"experiments.{module}", "--quick", "--out", str(out), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in out.read_text().splitlines()]


def assert_rounded_ratio(value: float, num: float, den: float, halves: tuple[float, float, float]) -> None:
    """value == num / den where all three were rounded, to within half a unit each (halves: of value, num, den)."""
    h_value, h_num, h_den = halves
    assert (num - h_num) / (den + h_den) - h_value <= value <= (num + h_num) / (den - h_den) + h_value


@pytest.mark.slow
def test_ceiling(tmp_path):
    (r,) = run("ceiling", tmp_path)
    assert r["matmul_gflops"] > 0 and r["step_gflop"] > 0
    assert_rounded_ratio(r["achieved_gflops"], r["step_gflop"], r["step_ms"] / 1000, (0.05, 0.005, 0.00005))
    assert_rounded_ratio(r["fraction_of_ceiling"], r["achieved_gflops"], r["matmul_gflops"], (0.0005, 0.05, 0.05))
    assert r["ceiling_images_per_s"] > 0 and r["levers"]["bf16_autocast"] is False and "bf16_matmul_gflops" not in r


@pytest.mark.slow
def test_ceiling_bf16_lever(tmp_path):
    (r,) = run("ceiling", tmp_path, "--bf16")
    assert r["levers"]["bf16_autocast"] is True and r["bf16_matmul_gflops"] > 0
    assert_rounded_ratio(r["fraction_of_ceiling"], r["achieved_gflops"], r["matmul_gflops"], (0.0005, 0.05, 0.05))


@pytest.mark.slow
def test_time_to_digits_scores_every_ema_of_the_grid(tmp_path):
    """--ema-grid: the raw weights, each tracked EMA and the run's own, each scored at every w."""
    scored = run("time_to_digits", tmp_path, "--ema-grid", "0.5", "0.9", "--guidance", "2")
    assert [r["ema_decay"] for r in scored] == [0.0, 0.5, 0.9, Config().ema_decay]
    assert all(r["train_steps"] == 3 and r["guidance"] == 2.0 and r["fid"] > 0 for r in scored)


def test_ema_grid_follows_the_runs_own_ema():
    """Tracking the run's own decay reproduces its EMA (up to the first step's start), and raw weights differ."""
    import torch

    from experiments.time_to_digits import EmaGrid
    from helpers.data import ImageSet
    from helpers.train import train
    from tests.tiny import tiny_config

    config = tiny_config(max_steps=30, ema_decay=0.9)
    data = ImageSet(torch.rand(64, 1, 28, 28) * 2 - 1, torch.zeros(64, dtype=torch.long), "random", tuple("0123456789"))
    grid = EmaGrid([0.9, 0.5])
    state = train(config, data, progress=False, callback=grid, callback_every=1)
    ema, mine, fast = (torch.cat([p.flatten() for p in m.parameters()]) for m in (state.ema, grid.emas[0.9], grid.emas[0.5]))
    raw = torch.cat([p.flatten() for p in state.model.parameters()])
    assert grid.step == 30
    torch.testing.assert_close(mine, ema, atol=1e-3, rtol=0)
    assert (fast - raw).abs().max() < (mine - raw).abs().max()       # a shorter EMA stays closer to the weights
    with pytest.raises(ValueError, match=r"decays must be in \(0, 1\)"):
        EmaGrid([1.0])


@pytest.mark.slow
def test_time_to_digits_then_sampling_speed(tmp_path):
    scored = run("time_to_digits", tmp_path, "--save-dir", str(tmp_path))
    assert [r["guidance"] for r in scored] == [1.5, 2.0, 3.0]          # one line per guidance weight
    for r in scored:
        assert r["budget"] == {"steps": 3} and r["train_steps"] == 3 and r["n"] == 20
        for key in ("accuracy", "recognisable"):
            assert 0.0 <= r[key] <= 1.0
        assert r["fid"] > 0 and r["fid_over_floor"] == pytest.approx(r["fid"] / r["floor_fid"], abs=0.01)
    ckpt = tmp_path / "default_steps3.pt"
    assert ckpt.exists()
    (tmp_path / "bench.jsonl").unlink()
    rows = run("sampling_speed", tmp_path, "--checkpoint", str(ckpt), "--samplers", "ddpm", "ddim:10", "heun:4")
    assert [(x["sampler"], x["sampler_steps"], x["network_calls"]) for x in rows] == [
        ("ddpm", 300, 300), ("ddim", 10, 10), ("heun", 4, 7)]
    assert all(x["call_n"] == 10 and len(x["call_s_all"]) == 1 and x["call_s"] > 0 for x in rows)
    assert rows[0]["speedup_over_first"] == 1.0 and rows[1]["speedup_over_first"] > 1.0
    assert rows[0]["command"].startswith("python -m experiments.sampling_speed --quick --out")
    table = tables(scored + rows).splitlines()                       # what RESULTS.md quotes
    assert table[0] == "**time_to_digits**" and sum(line.startswith("| default | 3 steps |") for line in table) == 3
    assert any(line.startswith("| default_steps3.pt | ddim | 10 | 10 | 10 |") for line in table)
    assert any(line.startswith("| default_steps3.pt | heun | 4 | 7 | 10 |") for line in table)


@pytest.mark.slow
def test_diffusers_baseline(tmp_path):
    (r,) = run("diffusers_baseline", tmp_path)
    assert r["benchmark"] == "diffusers_baseline" and r["train_steps"] >= 25 and r["parameters"] > 100_000
    assert 0.0 <= r["accuracy"] <= 1.0 and r["fid"] > 0 and r["batch_size"] == Config().batch_size
    table = tables([r]).splitlines()
    assert table[0] == "**diffusers_baseline**" and table[-1].startswith(f"| {r['diffusers']} | 0.05 min |")


@pytest.mark.slow
def test_config_flags_reach_the_benchmark(tmp_path):
    (r,) = run("ceiling", tmp_path, "--base-channels", "8", "--channel-mults", "1,2")
    assert r["overrides"] == {"base_channels": 8, "channel_mults": [1, 2]}
    proc = subprocess.run([sys.executable, "-m", "experiments.time_to_digits", "--quick", "--widht", "3"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0 and "unrecognized arguments: --widht 3" in proc.stderr
