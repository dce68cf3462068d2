"""Training on several processes (torchrun, gloo on the CPU): the same steps as one process, resumable
anywhere, process 0 alone writing, and a crash that ends the run and keeps the last checkpoint."""
import os
import subprocess
import sys

import pytest
import torch

from helpers.io import ROOT, load_checkpoint
from helpers.train import train
from tests.distributed_helper import config, synthetic

pytestmark = pytest.mark.slow          # torchrun: two processes per test

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def torchrun(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([*TORCHRUN, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


def helper(*args: str, **kw) -> subprocess.CompletedProcess:
    return torchrun("-m", "tests.distributed_helper", *args, **kw)


def straight(steps: int = 6):
    """The same run on one process, in memory."""
    return train(config(steps), synthetic(), device=torch.device("cpu"), progress=False)


def assert_same_run(ckpt: dict, state) -> None:
    """Same steps, losses and weights. Gradients summed in another order differ in the last bits,
    and Adam, which divides each gradient by its own size, turns that into weight differences of
    up to a few percent of one learning-rate step (2e-3) where a gradient is near zero: hence the
    weight tolerance of a quarter step, while the losses agree to six digits."""
    assert ckpt["step"] == state.step and ckpt["losses"] == pytest.approx(state.losses, rel=1e-5)
    for part, module in (("model", state.model), ("ema", state.ema)):
        for name, value in module.state_dict().items():
            assert torch.allclose(ckpt[part][name].float(), value.float(), atol=5e-4), (part, name)


def test_two_processes_take_the_steps_of_one_with_the_same_global_batch(tmp_path):
    run = helper("--out", str(tmp_path / "two.pt"), "--steps", "4")
    assert run.returncode == 0, run.stderr[-2000:]
    assert_same_run(load_checkpoint(tmp_path / "two.pt"), straight(4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.pt"]              # process 0 alone writes
    assert "rank 0: stopped at step 4" in run.stdout and "rank 1: stopped at step 4" in run.stdout


def test_a_two_process_checkpoint_resumes_on_one_process_and_on_two(tmp_path):
    paused = helper("--out", str(tmp_path / "run.pt"), "--steps", "6", "--pause-at", "3")
    assert paused.returncode == 0 and paused.stdout.count("paused") == 2, paused.stderr[-2000:]
    assert load_checkpoint(tmp_path / "run.pt")["step"] == 3
    (tmp_path / "copy.pt").write_bytes((tmp_path / "run.pt").read_bytes())
    reference = straight(6)
    one = train(config(6), synthetic(), out=tmp_path / "run.pt", resume=True, device=torch.device("cpu"), progress=False)
    assert_same_run(load_checkpoint(tmp_path / "run.pt"), one)
    assert_same_run(load_checkpoint(tmp_path / "run.pt"), reference)       # step count, EMA and schedule continue
    two = helper("--out", str(tmp_path / "copy.pt"), "--steps", "6", "--resume")
    assert two.returncode == 0, two.stderr[-2000:]
    assert_same_run(load_checkpoint(tmp_path / "copy.pt"), reference)


def test_a_time_budget_stops_every_process_at_the_same_step(tmp_path):
    run = helper("--out", str(tmp_path / "t.pt"), "--steps", "100000", "--minutes", "0.02")
    assert run.returncode == 0, run.stderr[-2000:]
    steps = {line.split("step ")[1].split()[0] for line in run.stdout.splitlines() if "stopped at step" in line}
    assert len(steps) == 1 and "time budget" in run.stdout
    assert load_checkpoint(tmp_path / "t.pt")["step"] == int(steps.pop())


def test_a_crash_of_one_process_ends_the_run_and_keeps_the_last_checkpoint(tmp_path):
    run = helper("--out", str(tmp_path / "c.pt"), "--steps", "6", "--crash-at", "3", timeout=120)
    assert run.returncode != 0
    assert "process 1 failed on purpose" in run.stdout + run.stderr
    assert 1 <= load_checkpoint(tmp_path / "c.pt")["step"] <= 3                  # written before the crash, intact


def test_the_command_line_splits_the_global_batch(tmp_path):
    cli = torchrun("-m", "helpers", "train", "--out", str(tmp_path / "cli.pt"), "--max-steps", "2", "--batch-size", "16",
                   "--base-channels", "8", "--channel-mults", "1,2", "--T", "50", "--no-progress", "--device", "cpu")
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "2 processes on cpu" in cli.stderr and load_checkpoint(tmp_path / "cli.pt")["config"].batch_size == 16
    odd = torchrun("-m", "helpers", "train", "--out", str(tmp_path / "odd.pt"), "--max-steps", "1", "--batch-size", "15",
                   "--no-progress", "--device", "cpu")
    assert odd.returncode != 0 and "does not split evenly over 2 processes" in odd.stderr


def test_one_process_nan_stops_both_with_the_message_instead_of_a_hang(tmp_path):
    run = helper("--out", str(tmp_path / "nan.pt"), "--steps", "6", "--nan-at", "2", timeout=240)
    for rank in (0, 1):
        assert f"rank {rank}: diverged: loss became non-finite on at least one of 2 processes at step 2" \
            in run.stdout, run.stdout + run.stderr[-2000:]
