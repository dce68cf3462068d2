"""Why many small steps: the spread share of the true reverse step, for chains cut into K steps.

    python scripts/spread_share.py        # ~1 min on a 2-core CPU; writes results/spread_share.json

The measurement of notebook 01, section 4 (see ``helpers.schedule.spread_share``), with more
reference digits and queries, on the seed's linear T = 300 chain and the course's scaled-linear
one. Full MNIST test digits stand in for the data distribution (set ``DDPM_DATA``).
"""
from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers.checkpoint import save_json  # noqa: E402
from helpers.data import load_images  # noqa: E402
from helpers.device import make_generator  # noqa: E402
from helpers.schedule import Diffusion, spread_share  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=5000, help="digits standing in for the data set")
    parser.add_argument("--queries", type=int, default=64, help="held-out digits whose steps are measured")
    parser.add_argument("--steps", default="2,3,5,10,25,50,100,300", help="chain lengths K")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "results" / "spread_share.json"))
    args = parser.parse_args()
    data = load_images("mnist", train=False)
    gen = make_generator(args.seed)
    order = torch.randperm(len(data), generator=gen)
    n_ref = min(args.reference, len(data) - args.queries)
    reference = data.images[order[:n_ref]].double().flatten(1)
    queries = data.images[order[n_ref:n_ref + args.queries]].double().flatten(1)
    result = {"command": "python scripts/spread_share.py " + " ".join(sys.argv[1:]), "data": data.source,
              "reference_digits": n_ref, "queries": len(queries), "date": datetime.date.today().isoformat(),
              "schedules": {}}
    for schedule in ("linear", "scaled_linear"):
        full = Diffusion(300, schedule)
        rows = []
        for k in (int(s) for s in args.steps.split(",")):
            chain = full.respaced(k)
            per_step = torch.stack([spread_share(chain, i, queries, reference, gen).mean() for i in range(1, k)])
            rows.append({"steps": k, "mean": float(per_step.mean()), "worst": float(per_step.max())})
            print(schedule, rows[-1], flush=True)
        result["schedules"][schedule] = rows
    print(f"wrote {save_json(result, args.out)}")


if __name__ == "__main__":
    main()
