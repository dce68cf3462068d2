"""The lever study: which training choices buy the most digit quality per CPU minute.

Quality per CPU minute = (steps a configuration runs per CPU minute) x (quality per step).
The two factors are measured apart, so that a GPU can do the many training runs:

    python -m experiments.lever_study measure             # CPU: steps per minute of every candidate
    python -m experiments.lever_study run --device cuda   # any device: train each candidate for the
                                                         # steps it would get in 5 and 15 CPU minutes,
                                                         # score 1,000 guided digits per w

``measure`` writes ``results/benchmarks/lever_throughput.json`` (steps/min with all cores, this
machine); ``run`` reads it and calls ``experiments.time_to_digits --steps`` for every (candidate,
budget), several at once (``--workers``), appending JSON lines to ``--out``. The winner is then
confirmed on the CPU for real, by wall clock: ``python -m experiments.time_to_digits --minutes 5 10 15``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from experiments.common import RESULTS, ROOT, provenance
from helpers.io import save_json

THROUGHPUT = RESULTS / "benchmarks" / "lever_throughput.json"

# label -> Config overrides, explicit about width and batch so that they do not depend on the
# defaults: the first study started from base 32, mults (1, 2, 2), batch 128 (the default before it;
# its winner, base 16 at batch 64, was the default until the second study's "bottleneck48" beat it).
# Every other field is Config()'s.
OLD = {"base_channels": 32, "channel_mults": (1, 2, 2), "batch_size": 128}
B16 = {"base_channels": 16, "channel_mults": (1, 2, 4), "batch_size": 128}
BASE16 = {"base_channels": 16, "channel_mults": (1, 2, 2), "batch_size": 64}
CANDIDATES = {
    "b32_122_bs128": OLD,
    "b16_124": B16,
    "b32_112": {**OLD, "channel_mults": (1, 1, 2)},
    "b16_122": {**OLD, "base_channels": 16},
    "b24_124": {**B16, "base_channels": 24},
    "b16_124_lr4e-3": {**B16, "lr": 4e-3},
    "b16_124_lr1e-3": {**B16, "lr": 1e-3},
    "b16_124_ema0.999": {**B16, "ema_decay": 0.999},
    "b16_124_ema0.99": {**B16, "ema_decay": 0.99},
    "b16_124_minsnr5": {**B16, "min_snr_gamma": 5.0},
    "b16_124_cosine": {**B16, "schedule": "cosine"},
    "b16_124_linear": {**B16, "schedule": "linear"},
    "b16_124_bs64": {**B16, "batch_size": 64},
    "b16_124_bs256": {**B16, "batch_size": 256},
    "b16_124_warmup50": {**B16, "warmup_steps": 50},
    "b16_124_puncond0.2": {**B16, "p_uncond": 0.2},
    # the second study starts from the first one's winner (base 16, (1, 2, 2), batch 64), named "default" in its
    # recorded labels because it was the default then, and changes the network
    "default": BASE16,
    "scale_shift": {**BASE16, "scale_shift": True},
    "attn7": {**BASE16, "attention": (7,)},
    "scale_shift_attn7": {**BASE16, "scale_shift": True, "attention": (7,)},
    # a wider bottleneck at about the default's cost: narrower at 28x28, 56 (or 48) channels at 7x7 instead of 32
    "bottleneck56": {"base_channels": 14, "channel_mults": (1, 2, 4)},
    "bottleneck48": {"base_channels": 12, "channel_mults": (1, 2, 4)},
    # EDM's training noise distribution (the objective and the sampler unchanged): costs nothing per step
    "lognormal_t": {**BASE16, "timesteps": "lognormal"},
}


def measure(steps: int = 30, warmup: int = 5, only: list[str] | None = None) -> dict:
    """Training steps per minute of every candidate (or of ``only``) on this machine's CPU (all cores)."""
    import torch

    from helpers.config import Config
    from helpers.data import load_images
    from helpers.train import batch_at, build_state, learning_rate, train_step  # the loop's own batching

    data = load_images("mnist", train=True)
    out = {"threads": torch.get_num_threads(), "steps_per_min": {}}
    for label in only or CANDIDATES:
        over = CANDIDATES[label]
        config = Config(**over)
        state = build_state(config, torch.device("cpu"))
        cache = {}
        for i in range(warmup + steps):
            if i == warmup:
                start = time.perf_counter()
            x0, y = batch_at(data, config, i, cache, "cpu")
            train_step(state, x0, y, learning_rate(config, i, 0.0))
        spm = 60 * steps / (time.perf_counter() - start)
        out["steps_per_min"][label] = round(spm, 1)
        print(f"{label:>20}: {spm:6.1f} steps/min, {spm * config.batch_size / 60:6.1f} images/s", flush=True)
    return out


def compute_key(over: dict) -> tuple:
    """The fields that change the cost of a step: candidates equal in these share one throughput."""
    return tuple((k, over.get(k)) for k in ("base_channels", "channel_mults", "batch_size", "attention",
                                             "scale_shift"))


def steps_per_minute(measured: dict) -> dict:
    """Per candidate, the median steps/min over the candidates that cost the same per step
    (a learning rate does not change the speed; timing noise between them does)."""
    groups: dict = {}
    for label, over in CANDIDATES.items():
        if label in measured:
            groups.setdefault(compute_key(over), []).append(measured[label])
    return {label: sorted(groups[compute_key(over)])[len(groups[compute_key(over)]) // 2]
            for label, over in CANDIDATES.items() if compute_key(over) in groups}


def run(args) -> None:
    spm = steps_per_minute(json.loads(THROUGHPUT.read_text())["steps_per_min"])
    jobs = []
    for label in args.only or CANDIDATES:
        for minutes, seed in [(m, s) for m in args.minutes for s in args.seeds]:
            steps = max(1, round(spm[label] * minutes))
            cmd = [sys.executable, "-m", "experiments.time_to_digits", "--steps", str(steps), "--device", args.device,
                   "--label", f"{label}@{minutes:g}cpu-min" + (f"/seed{seed}" if seed else ""), "--n", str(args.n),
                   "--out", args.out, "--guidance", *[str(w) for w in args.guidance],
                   "--threads", str(args.threads), "--seed", str(seed)]
            for k, v in CANDIDATES[label].items():
                flag = f"--{k.replace('_', '-')}"
                if isinstance(v, bool):
                    cmd.append(flag if v else f"--no-{k.replace('_', '-')}")
                else:
                    cmd += [flag, ",".join(map(str, v)) if isinstance(v, tuple) else str(v)]
            jobs.append(cmd)
    jobs.sort(key=lambda c: -int(c[c.index("--steps") + 1]))     # longest first
    with ThreadPoolExecutor(args.workers) as pool:
        for cmd, rc in zip(jobs, pool.map(lambda c: subprocess.run(c, cwd=ROOT).returncode, jobs)):
            if rc:
                print(f"FAILED ({rc}): {' '.join(cmd)}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    m = sub.add_parser("measure", help="CPU steps per minute of every candidate")
    m.add_argument("--only", nargs="+", choices=sorted(CANDIDATES))
    m.add_argument("--steps", type=int, default=30, help="timed steps per candidate (after 5 untimed)")
    m.add_argument("--out", default=str(THROUGHPUT), help="where to write (another machine's figures: another file)")
    r = sub.add_parser("run", help="train and score every candidate at its CPU-minute step budgets")
    r.add_argument("--device", default="cuda")
    r.add_argument("--minutes", type=float, nargs="+", default=[5, 15])
    r.add_argument("--guidance", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    r.add_argument("--n", type=int, default=1000)
    r.add_argument("--workers", type=int, default=4)
    r.add_argument("--threads", type=int, default=2, help="torch threads per worker (1 for two CPU workers)")
    r.add_argument("--seeds", type=int, nargs="+", default=[0], help="Config.seed of each run (paired: the same seeds for every candidate)")
    r.add_argument("--only", nargs="+", choices=sorted(CANDIDATES))
    r.add_argument("--out", default=str(RESULTS / "benchmarks" / "lever_study.jsonl"))
    args = p.parse_args()
    if args.what == "measure":
        result = {**measure(args.steps, only=args.only), **provenance("lever_study", None, "cpu")}
        out = Path(args.out)
        if args.only and out.exists():           # keep the candidates not measured this time
            old = json.loads(out.read_text())
            result["steps_per_min"] = {**old["steps_per_min"], **result["steps_per_min"]}
        save_json(result, out)
    else:
        run(args)


if __name__ == "__main__":
    main()
