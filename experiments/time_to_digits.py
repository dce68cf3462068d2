"""Time to good digits: train from scratch for a wall-clock (or step) budget, then score guided samples.

    python -m experiments.time_to_digits --minutes 5 10 15           # the default configuration, CPU
    python -m experiments.time_to_digits --minutes 5 --lr 4e-3       # one lever changed (any Config flag)
    python -m experiments.time_to_digits --steps 1400 --device cuda  # a step budget (lever study on a GPU)
    python -m experiments.time_to_digits --steps 2169 --ema-grid 0.99 0.998 0.999   # EMA chosen after training
    python -m experiments.time_to_digits --quick                     # checks that it runs (CI)

For each budget it trains the default configuration (changed by any of the ``Config`` flags
that ``python -m helpers train`` takes) on the full MNIST training set, with the budget as
the only limit (the cosine learning rate decays over it), then samples ``--n`` guided
digits per guidance weight with DDIM and scores them: accuracy against the intended label,
the share recognisable (top-class probability above 0.9), and FID next to the floor at the
same n. One JSON line per (budget, guidance weight). Training time excludes the scoring.

``--ema-grid`` also keeps an EMA of the weights at each listed decay during the same run, and
scores each one (and the raw weights, decay 0) in turn: the EMA length chosen after training, in
the spirit of Karras et al. 2024's post-hoc EMA, for the price of one training run. Each line then
carries ``ema_decay``.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import time
from pathlib import Path

from experiments.common import emit, load_judge, provenance, quick, sample_and_score, set_threads, summary
from helpers.cli import add_config_flags, config_from_args
from helpers.config import Config
from helpers.data import load_images
from helpers.device import pick_device
from helpers.io import save_checkpoint
from helpers.train import TrainState, train, update_ema
from helpers.unet import count_parameters


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, nargs="+", help="wall-clock training budgets (default 5 10 15)")
    budget.add_argument("--steps", type=int, nargs="+", help="optimiser-step budgets instead of minutes")
    p.add_argument("--n", type=int, default=1000, help="guided samples scored per guidance weight")
    p.add_argument("--guidance", type=float, nargs="+", default=[1.5, 2.0, 3.0], help="guidance weights w to score")
    p.add_argument("--sampler", default="ddim:25", help="sampler of the scores (default ddim:25)")
    p.add_argument("--labels", choices=("balanced", "prior"), default="balanced",
                   help="guided labels: 0..9 in turn (default) or MNIST's class proportions")
    p.add_argument("--device", default="cpu", help="cpu (the benchmark's subject), cuda, auto")
    p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    p.add_argument("--label", default="", help="name of this experiment in the output")
    p.add_argument("--save-dir", help="keep each trained checkpoint here (e.g. for experiments.sampling_speed)")
    p.add_argument("--ema-grid", type=float, nargs="+", default=[],
                   help="also track and score an EMA at each of these decays (and the raw weights)")
    p.add_argument("--out", help="also append the JSON lines to this .jsonl file")
    p.add_argument("--quick", action="store_true", help="tiny budgets and sample counts: checks that it runs")
    add_config_flags(p)
    return p


def main(argv: list[str] | None = None) -> list[dict]:
    args = build_parser().parse_args(argv)
    threads, device = set_threads(args.threads), pick_device(args.device)
    base_config = config_from_args(args)
    changed = {k: v for k, v in dataclasses.asdict(base_config).items() if v != getattr(Config(), k)}
    if args.quick or quick(argv):
        kind, budgets, n = "steps", [3], 20
    else:
        kind = "steps" if args.steps else "minutes"
        budgets, n = args.steps or args.minutes or [5, 10, 15], args.n
    data, (classifier, real) = load_images("mnist", train=True), load_judge(device, need_full=False)
    records = []
    for budget in budgets:
        limits = {"max_steps": int(budget)} if kind == "steps" else {"max_minutes": float(budget)}
        config = base_config.replace(**{"epochs": None, "max_steps": None, "max_minutes": None, **limits})
        tracker = EmaGrid(args.ema_grid)
        start = time.perf_counter()
        state = train(config, data, device=device, progress=False, callback=tracker if args.ema_grid else None,
                      callback_every=1)
        train_s = time.perf_counter() - start
        if args.save_dir:
            save_checkpoint(state.to_checkpoint(), Path(args.save_dir) / f"{args.label or 'default'}_{kind}{budget:g}.pt")
        base = {"benchmark": "time_to_digits", "label": args.label, "overrides": changed, "budget": {kind: budget},
                "train_s": round(train_s, 1), "train_steps": state.step,
                "images_per_s_train": round(state.step * config.batch_size / train_s, 1),
                "final_loss_mean_50": round(sum(state.losses[-50:]) / len(state.losses[-50:]), 4),
                "parameters": count_parameters(state.model), "data": data.source, "full_data": data.is_full,
                "threads": threads, **provenance("time_to_digits", argv, device)}
        models = {config.ema_decay: state.sampling_model}
        if args.ema_grid:
            models = {**tracker.emas, config.ema_decay: state.sampling_model, 0.0: state.model}
        for decay, model in sorted(models.items(), key=lambda kv: kv[0] or 0.0):
            for w in args.guidance:
                scores = sample_and_score(model.eval(), state.diffusion, classifier, real, n, w, args.sampler,
                                          labels=args.labels)
                records.append(emit({**base, **({"ema_decay": decay} if args.ema_grid else {}), **summary(scores)},
                                    args.out))
    return records


class EmaGrid:
    """A training callback (call it after every step) that keeps an EMA of the weights per decay.

    Each follows :func:`helpers.train.update_ema`, started from the weights after the first step
    (the run's own EMA starts one step earlier, from the initial weights, a difference that decays away).
    """

    def __init__(self, decays: list[float]):
        if any(not 0 < d < 1 for d in decays):
            raise ValueError(f"--ema-grid decays must be in (0, 1), got {decays}")
        self.decays, self.emas, self.step = list(decays), {}, 0

    def __call__(self, state: TrainState) -> None:
        if state.step == self.step:              # train() calls once more at the end, after the last step
            return
        self.step = state.step
        for d in self.decays:
            if d not in self.emas:
                self.emas[d] = copy.deepcopy(state.model).requires_grad_(False)
            update_ema(self.emas[d], state.model, d, state.step - 1)


if __name__ == "__main__":
    main()
