"""What the benchmarks share: config overrides from the command line, scoring guided samples, JSON lines.

Every benchmark prints one JSON object per measurement on its own line (and appends it to
``--out`` when given), so ``make bench`` output can be grepped, diffed and pasted into
``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import ast
import dataclasses
import datetime
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpers.config import Config  # noqa: E402
from helpers.device import hardware, make_generator  # noqa: E402
from helpers.evaluate import evaluate_samples  # noqa: E402
from helpers.sampling import sample_many  # noqa: E402


def parse_overrides(pairs: list[str] | None) -> dict:
    """['lr=3e-3', 'channel_mults=(1,2,4)'] -> {'lr': 0.003, 'channel_mults': (1, 2, 4)}, checked against Config."""
    known = {f.name for f in dataclasses.fields(Config)}
    out = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or key not in known:
            raise SystemExit(f"--set expects FIELD=VALUE with FIELD one of {sorted(known)}, got {pair!r}")
        try:
            out[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[key] = text                     # a bare string such as schedule=cosine
    return out


def set_threads(threads: int | None) -> int:
    """Use ``threads`` torch threads (default: every core); returns the number in use."""
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def score_guided(model, diffusion, classifier, reference, n: int, guidance: float, steps: int,
                 seed: int = 0, batch_size: int = 500, sampler: str = "ddim") -> dict:
    """n class-balanced samples (labels 0..9 cycled) with guidance w over ``steps`` steps, scored.

    Returns accuracy, share recognisable (top-class probability > 0.9), FID and the
    train-vs-test FID floor at the same n, their ratio, and the sampling speed.
    """
    labels = torch.arange(n) % 10
    device = next(model.parameters()).device
    start = time.perf_counter()
    images = sample_many(model, diffusion.respaced(steps), n, labels, guidance,
                         make_generator(seed, device), batch_size, sampler=sampler)
    seconds = time.perf_counter() - start
    s = evaluate_samples(classifier, images, labels, reference, seed=seed)
    fid, floor = s["distances"]["fid"], s["floor"]["fid"]
    return {"n": n, "guidance": guidance, "sampler": sampler, "sampler_steps": steps,
            "accuracy": round(s["accuracy"], 4), "recognisable": round(s["share_confident"], 4),
            "fid": round(fid, 3), "floor_fid": round(floor, 3), "fid_over_floor": round(fid / floor, 2),
            "sample_s": round(seconds, 1), "images_per_s": round(n / seconds, 2)}


def emit(record: dict, out: str | None) -> None:
    """Print ``record`` as one JSON line (with date and hardware) and append it to ``out``."""
    record = {**record, "date": datetime.date.today().isoformat()}
    line = json.dumps(record)
    print(line, flush=True)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with open(out, "a") as f:
            f.write(line + "\n")


def machine(device) -> dict:
    """Hardware summary for a record."""
    h = hardware(device)
    return {k: h[k] for k in ("device", "device_name", "cpu_count", "torch_threads", "torch")}


def quick() -> bool:
    """True under ``--quick`` or DDPM_FAST=1: tiny sizes that check the benchmark runs, not figures."""
    return "--quick" in sys.argv or os.environ.get("DDPM_FAST") == "1"
