"""Why many small steps: the spread share of the true reverse step, for chains cut into K steps.

    python -m experiments.spread_share        # about a minute on a 2-core CPU

The measurement of notebook 01 (see ``helpers.schedule.spread_share``) with more digits
standing in for the data set and more held-out queries, on the student report's linear
T = 300 chain and the course's rescaled-linear one. Full MNIST test digits stand in for the
data distribution (set ``DDPM_DATA``). Writes ``results/spread_share.json``.
"""
from __future__ import annotations

import argparse

import torch

from experiments.common import RESULTS, provenance
from helpers.data import load_images
from helpers.device import make_generator
from helpers.io import save_json
from helpers.schedule import Diffusion, spread_share


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-digits", type=int, default=5000, help="digits standing in for the data set")
    parser.add_argument("--queries", type=int, default=64, help="held-out digits whose steps are measured")
    parser.add_argument("--steps", type=int, nargs="+", default=[2, 3, 5, 10, 25, 50, 100, 300],
                        help="chain lengths K")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "spread_share.json"))
    args = parser.parse_args(argv)
    data = load_images("mnist", train=False)
    gen = make_generator(args.seed)
    order = torch.randperm(len(data), generator=gen)
    n_data = min(args.data_digits, len(data) - args.queries)
    stand_in = data.images[order[:n_data]].double().flatten(1)
    queries = data.images[order[n_data:n_data + args.queries]].double().flatten(1)
    result = {"data": data.source, "data_digits": n_data, "queries": len(queries), "schedules": {},
              **provenance("spread_share", argv, "cpu")}
    for schedule in ("linear", "rescaled_linear"):
        rows = []
        for k in args.steps:
            chain = Diffusion(300, schedule).respaced(k)
            per_step = torch.stack([spread_share(chain, i, queries, stand_in, gen).mean() for i in range(1, k)])
            rows.append({"steps": k, "mean": float(per_step.mean()), "worst": float(per_step.max())})
            print(schedule, rows[-1], flush=True)
        result["schedules"][schedule] = rows
    print(f"wrote {save_json(result, args.out)}")
    return result


if __name__ == "__main__":
    main()
