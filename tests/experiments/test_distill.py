"""experiments.distill in quick mode: a stage trains, writes a student that loads with its own chain,
is scored, and a second run skips the finished stage."""
import subprocess
import sys

import pytest

from experiments.common import ROOT
from helpers.io import load_model

pytestmark = pytest.mark.slow          # runs the experiment as a command, twice


def test_distill_writes_a_student_that_samples_on_its_own_chain(tmp_path):
    cmd = [sys.executable, "-m", "experiments.distill", "--quick", "--out-dir", str(tmp_path)]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "'student_steps': 4" in first.stdout and "'network_calls': 4" in first.stdout
    model, chain, config = load_model(tmp_path / "student_4.pt")
    assert chain.T == 4 and chain.timestep_map[-1] == 299 and config.num_classes == 10
    assert not (tmp_path / "student_4.partial.pt").exists()
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert again.returncode == 0 and "student_4.pt exists: skipping its training" in again.stdout
