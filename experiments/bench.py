"""``make bench``: the CPU benchmarks in one run, one JSON line per measurement.

    python -m experiments.bench            # full: about 75 minutes on the idle 2-core CPU
    python -m experiments.bench --quick    # checks that every benchmark runs (a minute or two; CI)

1. ceiling             matmul ceiling vs one training step of the default configuration
2. time_to_digits      the default configuration trained for 5, 10 and 15 minutes, 1,000 guided digits each
3. sampling_speed      DDPM, DDIM 50/25/10 and DPM-Solver++ 10/5 on the 15-minute checkpoint
4. diffusers_baseline  diffusers' training recipe for the same 15 minutes, scored the same way
5. sampling_speed      fast sampling with the committed reference: 100 guided digits in one call, timed,
                       and 1,000 scored in MNIST's class mix, for DDIM 10 and DPM-Solver++ 5 and 4 at w = 1.5
6. reference_quality   the unconditional reference, autoguided by its guide: 1,000 digits scored, written as
                       part ``uncond_reference`` of ``results/reference_quality.json`` (needs full MNIST)

Lines go to stdout and to ``--out`` (default ``results/benchmarks/bench.jsonl``). Run on an
otherwise idle machine: the budgets are wall-clock minutes.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from experiments.common import REFERENCE, RESULTS, ROOT

# the unconditional reference and how it is sampled (models/uncond_reference.json says how it was made)
UNCONDITIONAL = ["--checkpoint", str(ROOT / "models" / "uncond_reference.pt"),
                 "--guide", str(ROOT / "models" / "uncond_guide.pt"), "--autoguidance", "1.5"]
UNCOND_SAMPLER = "ddpm:50"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that every benchmark runs")
    p.add_argument("--out", default=str(RESULTS / "benchmarks" / "bench.jsonl"))
    p.add_argument("--save-dir", default=str(ROOT / "checkpoints" / "bench"))
    p.add_argument("--minutes", type=float, nargs="+", default=[5, 10, 15])
    args = p.parse_args(argv)
    q, out, last = ["--quick"] if args.quick else [], ["--out", args.out], max(args.minutes)
    ckpt = Path(args.save_dir) / ("default_steps3.pt" if args.quick else f"default_minutes{last:g}.pt")
    runs = [["ceiling", *q, *out],
            ["time_to_digits", "--minutes", *map(str, args.minutes), "--save-dir", args.save_dir, *q, *out],
            ["sampling_speed", "--checkpoint", str(ckpt), *q, *out],
            ["diffusers_baseline", "--minutes", str(last), *q, *out],
            ["sampling_speed", "--checkpoint", str(REFERENCE), "--samplers", "ddim:10", "dpm++:5", "dpm++:4",
             "--guidance", "1.5", "--labels", "prior", *q, *out],
            ["reference_quality", "unconditional", *UNCONDITIONAL, "--name", "uncond_reference",
             *(["--n", "20", "--sampler", "ddpm:3", "--out", str(Path(args.out).with_suffix(".quick.json"))] if args.quick
               else ["--n", "1000", "--sampler", UNCOND_SAMPLER])]]
    failed = []
    for run in runs:
        print(f"== python -m experiments.{' '.join(run)}", flush=True)
        if subprocess.run([sys.executable, "-m", f"experiments.{run[0]}", *run[1:]], cwd=ROOT).returncode:
            failed.append(run[0])
    if failed:
        raise SystemExit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
