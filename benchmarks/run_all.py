"""``make bench``: the four benchmarks in one run, one JSON line per measurement.

    python benchmarks/run_all.py            # full: 71 minutes on the 2-core development CPU
    python benchmarks/run_all.py --quick    # checks that every benchmark runs (about a minute; CI)

1. ceiling.py          matmul ceiling vs one training step of the default configuration
2. time_to_digits.py   the default configuration trained for 5, 10 and 15 minutes, 1,000 guided digits each
3. sampling_speed.py   DDPM and DDIM 50/25/10 on the 15-minute checkpoint
4. diffusers_baseline.py  diffusers' training recipe for the same 15 minutes, scored the same way

Lines go to stdout and to ``--out`` (default ``benchmarks/results/bench.jsonl``).
Run on an otherwise idle machine: the budgets are wall-clock minutes.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that every benchmark runs")
    p.add_argument("--out", default=str(HERE / "results" / "bench.jsonl"))
    p.add_argument("--save-dir", default=str(HERE.parent / "checkpoints" / "bench"))
    p.add_argument("--minutes", type=float, nargs="+", default=[5, 10, 15])
    args = p.parse_args()
    q = ["--quick"] if args.quick else []
    out = ["--out", args.out]
    last = max(args.minutes)
    ckpt = Path(args.save_dir) / ("default_steps3.pt" if args.quick else f"default_minutes{last:g}.pt")
    runs = [
        ["ceiling.py", *q, *out],
        ["time_to_digits.py", "--minutes", *map(str, args.minutes), "--save-dir", args.save_dir, *q, *out],
        ["sampling_speed.py", "--checkpoint", str(ckpt), *q, *out],
        ["diffusers_baseline.py", "--minutes", str(last), *q, *out],
    ]
    failed = []
    for run in runs:
        print(f"== {' '.join(run)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / run[0]), *run[1:]]).returncode:
            failed.append(run[0])
    if failed:
        raise SystemExit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
