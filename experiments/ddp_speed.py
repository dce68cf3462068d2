"""Training throughput on several processes: one process with every core against torchrun's N processes.

    python -m experiments.ddp_speed                 # 400 steps each way, about 3 minutes on a 2-core CPU
    python -m experiments.ddp_speed --steps 10      # a quick try-out

Trains the default configuration for ``--steps`` steps of the global batch, first as one
process with all torch threads, then as ``torchrun --standalone --nproc_per_node N`` with one
thread per process (gloo on a CPU, NCCL on GPUs), and records images per second of each, read
from the checkpoints' own clocks (training only, not start-up). Run it on an idle machine.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from experiments.common import RESULTS, ROOT, emit, provenance
from helpers.io import load_checkpoint


def run(processes: int, steps: int, out: Path, device: str) -> dict:
    """Train ``steps`` steps on ``processes`` processes (1: a plain process); images/s from the checkpoint."""
    args = ["-m", "helpers", "train", "--out", str(out), "--max-steps", str(steps), "--no-progress", "--device", device]
    if processes == 1:
        cmd, env = [sys.executable, *args], dict(os.environ)
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *args]
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // processes))}
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    state = load_checkpoint(out)
    batch = state["config"].batch_size
    return {"processes": processes, "threads_per_process": int(env.get("OMP_NUM_THREADS", torch.get_num_threads())),
            "steps": state["step"], "train_s": round(state["elapsed_s"], 1),
            "images_per_s": round(state["step"] * batch / state["elapsed_s"], 1), "batch_size": batch}


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(RESULTS / "benchmarks" / "ddp_speed.jsonl"))
    args = p.parse_args(argv)
    made = provenance("ddp_speed", argv, args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.processes:
            rows.append(emit({"benchmark": "ddp_speed", **run(n, args.steps, Path(tmp) / f"p{n}.pt", args.device),
                              **made}, args.out))
    return rows


if __name__ == "__main__":
    main()
