"""The course's assessment: grade every student checkpoint in a folder against one pass mark.

    python -m experiments.assess FOLDER [--out grades.csv] [--n 1000] [--steps 25] [--guidance 1.5] [--seed 0]

For every ``*.pt`` in FOLDER: n guided digits in MNIST's class mix, sampled with DDIM in ``--steps``
steps from a fixed generator seed (:func:`experiments.common.sample_and_score`), read by the
course's judge: the share read as the digit asked for, and FID on the judge's features over its
floor (FID of n real training digits, the same n). One line per student, printed as a table and
written to ``--out`` (CSV, atomically). A file that cannot be graded (not a checkpoint, a network
that does not match its config, an unconditional or flow-matching model) gets a line saying why.
From a notebook, :func:`grade` grades one checkpoint, a training state or a ``(model, diffusion)``.
Needs full MNIST (``DDPM_DATA``) for an honest floor.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from experiments.common import load_judge, sample_and_score
from helpers.device import pick_device
from helpers.io import CheckpointError, atomic_write, load_model
from helpers.samplers import parse_sampler
from helpers.sampling import eps_model

PASS_ACCURACY = 0.95          # the pass mark, in one place: the share read as the digit asked for ...
PASS_FID_OVER_FLOOR = 3.0     # ... and FID at most this many times the floor (n real digits)
PASS_MARK = (f"pass: at least {PASS_ACCURACY:.0%} of the digits read as asked, and FID at most "
             f"{PASS_FID_OVER_FLOOR:g} x the floor (FID of as many real digits)")
COLUMNS = ("file", "accuracy", "fid", "floor", "fid_over_floor", "result", "reason")


@dataclass
class Grade:
    """One student's grade. ``accuracy`` in [0, 1]; ``fid`` and ``floor`` on the judge's features;
    all None when the model could not be graded, and ``reason`` then says why."""
    file: str
    passed: bool
    reason: str
    accuracy: float | None = None
    fid: float | None = None
    floor: float | None = None
    n: int | None = None

    @property
    def fid_over_floor(self) -> float | None:
        """FID over the floor: 1 is as close to the test digits as n real digits come."""
        return None if self.fid is None else self.fid / self.floor

    def row(self) -> dict:
        """The CSV line: rounded numbers, 'pass' or 'fail', the reason."""
        r = lambda v, k: "" if v is None else round(v, k)
        return {"file": self.file, "accuracy": r(self.accuracy, 4), "fid": r(self.fid, 3), "floor": r(self.floor, 3),
                "fid_over_floor": r(self.fid_over_floor, 2), "result": "pass" if self.passed else "fail",
                "reason": self.reason}


def verdict(accuracy: float, fid_over_floor: float) -> tuple[bool, str]:
    """(passed, reason) under the pass mark; the reason names every part that fell short
    (a NaN, from a network that diverged, falls short)."""
    short = []
    if not accuracy >= PASS_ACCURACY:
        short.append(f"accuracy {accuracy:.1%} < {PASS_ACCURACY:.0%}")
    if not fid_over_floor <= PASS_FID_OVER_FLOOR:
        short.append(f"FID {fid_over_floor:.2f} x the floor > {PASS_FID_OVER_FLOOR:g}")
    if short:
        return False, "; ".join(short)
    return True, f"accuracy >= {PASS_ACCURACY:.0%} and FID <= {PASS_FID_OVER_FLOOR:g} x the floor"


def _open(source, device) -> tuple[str, torch.nn.Module, object]:
    """(name, noise-predicting model, diffusion) from a checkpoint path, a training state
    (:class:`helpers.train.TrainState`) or a ``(model, diffusion[, config])`` tuple."""
    if isinstance(source, (str, os.PathLike)):
        model, diffusion, _ = load_model(source, device, dataset="mnist")
        return Path(source).name, model, diffusion
    if hasattr(source, "sampling_model"):
        return "training state", source.sampling_model(), source.diffusion
    if isinstance(source, tuple) and len(source) in (2, 3):
        return "model", source[0].eval(), source[1]
    raise TypeError(f"grade takes a checkpoint path, a TrainState or (model, diffusion), not {type(source).__name__}")


def _check(model, diffusion, steps: int, guidance: float) -> None:
    """Raise the samplers' own ValueError when the model cannot make guided digits with DDIM."""
    eps_model(model, torch.zeros(1, dtype=torch.long), guidance)   # an unconditional model
    parse_sampler(f"ddim:{steps}").chain(diffusion)          # a flow-matching model, or too short a chain


def grade(source, judge: tuple | None = None, n: int = 1000, steps: int = 25, guidance: float = 1.5,
          seed: int = 0, device: str | torch.device | None = None, batch_size: int = 500) -> Grade:
    """Grade one model: n guided digits in MNIST's class mix (DDIM, ``steps`` steps, generator
    seed ``seed``), read by the judge. ``source``: a checkpoint path, a TrainState or
    ``(model, diffusion)``. ``judge``: (classifier, RealImages) from :func:`experiments.common.load_judge`
    (default: loaded here; without full MNIST the floor comes from the offline fallback).
    A model that cannot be graded returns a failing Grade whose reason is the loader's one line.
    """
    device = pick_device("auto") if device is None else torch.device(device)
    name = Path(source).name if isinstance(source, (str, os.PathLike)) else "model"
    try:
        name, model, diffusion = _open(source, device)
        _check(model, diffusion, steps, guidance)
    except (CheckpointError, ValueError) as e:
        return Grade(name, False, f"not graded: {str(e).splitlines()[0]}")
    classifier, real = judge or load_judge(device, need_full=False)
    record = sample_and_score(model, diffusion, classifier, real, n, guidance, f"ddim:{steps}", seed, batch_size)
    accuracy, fid, floor = record["accuracy"], record["distances"]["fid"], record["floor"]["fid"]
    return Grade(name, *verdict(accuracy, fid / floor), accuracy, fid, floor, n)


def checkpoints(folder: str | os.PathLike) -> list[Path]:
    """The ``*.pt`` files in ``folder``, sorted by name; a one-line exit when there are none."""
    if not Path(folder).is_dir():
        raise SystemExit(f"{folder} is not a folder")
    paths = sorted(Path(folder).glob("*.pt"))
    if not paths:
        raise SystemExit(f"no checkpoints (*.pt) in {folder}")
    return paths


def grade_folder(folder: str | os.PathLike, judge: tuple, **settings) -> list[Grade]:
    """A :class:`Grade` for every ``*.pt`` in ``folder`` (sorted by name), printing each line as it comes."""
    paths, grades = checkpoints(folder), []
    for path in paths:
        grades.append(grade(path, judge, **settings))
        print(table_line(grades[-1]), flush=True)
    return grades


def table_line(g: Grade) -> str:
    """One markdown table row: file, accuracy, FID, floor, FID/floor, result, reason."""
    row = g.row()
    if g.accuracy is not None:
        row["accuracy"] = f"{g.accuracy:.1%}"
    return "| " + " | ".join(str(row[c]) for c in COLUMNS) + " |"


def write_csv(grades: list[Grade], out: str | os.PathLike) -> Path:
    """Write one CSV line per grade (with a header), atomically; returns the path."""
    text = io.StringIO()
    writer = csv.DictWriter(text, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(g.row() for g in grades)
    return atomic_write(out, lambda tmp: tmp.write_text(text.getvalue()))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="a folder of student checkpoints (*.pt, as 'python -m helpers train' writes them)")
    p.add_argument("--out", default="grades.csv", help="CSV to write, one line per checkpoint (default grades.csv)")
    p.add_argument("--n", type=int, default=1000, help="digits per student; the floor uses as many real ones")
    p.add_argument("--steps", type=int, default=25, help="DDIM steps (default 25)")
    p.add_argument("--guidance", type=float, default=1.5, help="classifier-free guidance weight w (default 1.5)")
    p.add_argument("--seed", type=int, default=0, help="generator seed of every student's noise (default 0)")
    return p


def main(argv: list[str] | None = None) -> list[Grade]:
    args = build_parser().parse_args(argv)
    checkpoints(args.folder)
    if args.n < 2 or args.steps < 2:
        raise SystemExit(f"--n and --steps must be at least 2 (FID needs two digits, DDIM two steps), "
                         f"got --n {args.n} --steps {args.steps}")
    device = pick_device("auto")
    judge = load_judge(device)
    print(PASS_MARK)
    print(f"{args.n} guided digits per student in MNIST's class mix, DDIM {args.steps} steps, w = {args.guidance:g}, "
          f"seed {args.seed}\n")
    print("| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS), flush=True)
    grades = grade_folder(args.folder, judge, n=args.n, steps=args.steps, guidance=args.guidance, seed=args.seed)
    path = write_csv(grades, args.out)
    print(f"\n{sum(g.passed for g in grades)} of {len(grades)} passed; wrote {path}")
    return grades


if __name__ == "__main__":
    main()
