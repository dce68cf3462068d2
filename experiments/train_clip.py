"""Train the small CLIP on the 60,000 MNIST training digits and commit it with its provenance.

    DDPM_DATA=path/to/MNIST/raw python -m experiments.train_clip --steps 1000

Writes the resumable run to ``checkpoints/clip_small_run.pt`` (``--resume`` continues it), one
line per 100 steps to ``results/clip_small_train.jsonl``, and at the end the model
(``models/clip_small.pt``, weights and config only) with ``models/clip_small.json`` beside it:
the command, steps, seconds, machine (``lscpu``), date, torch version and the zero-shot accuracy
on the 10,000 test digits. ``python -m experiments.clip_score`` measures the rest.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch

from helpers.clip_small import count_parameters
from helpers.clip_train import KIND, ClipTrainConfig, load_small_clip, train_clip
from helpers.data import load_images
from helpers.device import provenance
from helpers.evaluation.clip_small import zero_shot_accuracy
from helpers.io import ROOT, atomic_write, save_json
from experiments.common import set_threads
from helpers.morphometry import load_attributes

RUN = ROOT / "checkpoints" / "clip_small_run.pt"
MODEL = ROOT / "models" / "clip_small.pt"
LOG = ROOT / "results" / "clip_small_train.jsonl"


def lscpu() -> dict:
    """The machine as ``lscpu`` names it: model name and CPU count ({} where lscpu is missing)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {k: fields[k].strip() for k in ("Model name", "CPU(s)") if k in fields}


def command(config: ClipTrainConfig, threads: int = 1) -> str:
    """The shell command that trains ``config`` with every flag spelled (what the model's record keeps)."""
    return (f"DDPM_DATA=path/to/MNIST/raw python -m experiments.train_clip --steps {config.steps} "
            f"--batch-size {config.batch_size} --lr {config.lr!r} --seed {config.seed} --threads {threads}")


def build_parser() -> argparse.ArgumentParser:
    defaults = ClipTrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("steps", "batch_size", "lr", "seed"):
        parser.add_argument("--" + name.replace("_", "-"), type=type(getattr(defaults, name)),
                            default=getattr(defaults, name))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: fastest on a shared 2-core machine; 0: every core)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run")
    parser.add_argument("--run", default=str(RUN), help="the resumable training checkpoint")
    parser.add_argument("--out", default=str(MODEL), help="the model file to write (and its .json)")
    parser.add_argument("--log", default=str(LOG), help="progress log, one JSON line per 100 steps")
    return parser


def publish(state, out: Path, ran: str, test) -> dict:
    """Write the slim model file ``out`` and its record ``out.json``; returns the record."""
    atomic_write(out, lambda tmp: torch.save({"format": 1, "kind": KIND, "config": state.config.to_dict(),
                                              "model": state.model.state_dict(), "step": state.step,
                                              "elapsed_s": state.elapsed_s, "cpu_s": state.cpu_s}, tmp))
    made = provenance("cpu", ran)
    record = {"config": state.config.to_dict(), "steps": state.step, "seconds": round(state.elapsed_s, 1),
              "cpu_seconds": round(state.cpu_s, 1),
              "parameters": count_parameters(state.model), "lscpu": lscpu(), **made,
              "torch": made["hardware"]["torch"], "command": [command(state.config)], "history": ran,
              "metrics": {"zero_shot_accuracy_test": zero_shot_accuracy(load_small_clip(out), test.images, test.labels),
                          "test_images": len(test)}}
    save_json(record, out.with_suffix(".json"))
    return record


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    config = ClipTrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    train, test = load_images("mnist", train=True), load_images("mnist", train=False)
    if not (train.is_full and test.is_full):
        raise SystemExit(f"training the small CLIP needs full MNIST (found {train.source}); "
                         "set DDPM_DATA to a folder holding MNIST/raw")
    state = train_clip(config, train, load_attributes().split(train=True), args.run, args.log, args.resume)
    ran = " ".join(["DDPM_DATA=path/to/MNIST/raw python -m experiments.train_clip",
                    *(sys.argv[1:] if argv is None else argv)])
    record = publish(state, Path(args.out), ran, test)
    print(f"{state.step} steps in {state.elapsed_s:.0f} s ({state.cpu_s:.0f} CPU-seconds); zero-shot accuracy on the test digits "
          f"{record['metrics']['zero_shot_accuracy_test']:.2%}; wrote {args.out}")
    return record


if __name__ == "__main__":
    main()
