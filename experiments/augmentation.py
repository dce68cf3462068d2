"""Generated digits as training data: Classification Accuracy Score and the low-data regime.

    python -m experiments.augmentation generate   # 60,000 digits from the reference, in MNIST's class mix
    python -m experiments.augmentation train      # the classifier recipe on each training set below

``generate`` writes 12 chunks of 5,000 digits under outputs/augmentation/ (not committed),
one seeded generator per chunk, skipping chunks already there: a stopped run resumes.
``train`` trains the course's classifier recipe (steps matched to full MNIST's 2,345) on:
real digits (``--no-real``: taken from the committed judge's record, which is that run); generated
digits only (CAS); 10 and 100 real digits per class, alone and with the 60,000 generated digits added. Each is tested on the real MNIST test set, and the
results go to results/applications.json, part "augmentation". Needs full MNIST.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from experiments.common import RESULTS, REFERENCE, load_judge, provenance, write
from helpers.data import ImageSet
from helpers.device import make_generator
from helpers.evaluation.augmentation import FULL_STEPS, classification_accuracy_score, combine, per_class_subset
from helpers.io import ROOT, atomic_write, load_model
from helpers.sampling import prior_labels, sample

OUT = RESULTS / "applications.json"
JUDGE_RECORD = ROOT / "models" / "digit_classifier.json"
CHUNKS = ROOT / "outputs" / "augmentation"
SAMPLER, GUIDANCE, N, CHUNK = "ddpm:50", 1.0, 60_000, 5_000


def _chunk_path(folder, i: int):
    return folder / f"chunk_{i:02d}.pt"


def generate(n: int = N, chunk: int = CHUNK, folder=CHUNKS, seed: int = 0, judge=None) -> dict:
    """Sample ``n`` digits with labels in MNIST's class mix, in resumable chunks; returns the sampling time of all."""
    model, diffusion, _ = load_model(REFERENCE)
    _, real = judge or load_judge()
    labels = prior_labels(n, torch.bincount(real.train.labels, minlength=10))
    labels = labels[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]
    folder.mkdir(parents=True, exist_ok=True)
    for i, lo in enumerate(range(0, n, chunk)):
        if _chunk_path(folder, i).exists():
            continue
        y = labels[lo:lo + chunk]
        start = time.monotonic()
        x = sample(model, diffusion, len(y), y, GUIDANCE, make_generator(seed * 1000 + i), SAMPLER, batch_size=500)
        record = {"images": x, "labels": y, "seconds": time.monotonic() - start}
        atomic_write(_chunk_path(folder, i), lambda p: torch.save(record, p))
        print(f"chunk {i}: {len(y)} digits in {record['seconds'] / 60:.1f} min", flush=True)
    seconds = sum(torch.load(_chunk_path(folder, i))["seconds"] for i in range(-(-n // chunk)))
    return {"seconds": round(seconds, 1), "digits_per_s": round(n / max(seconds, 1e-9), 1)}


def load_generated(n: int = N, chunk: int = CHUNK, folder=CHUNKS) -> ImageSet:
    """The generated digits as an :class:`ImageSet` (every chunk must be there)."""
    paths = [_chunk_path(folder, i) for i in range(-(-n // chunk))]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise SystemExit(f"{len(missing)} chunks of generated digits are missing in {folder} "
                         f"({missing[0]}, ...): run 'python -m experiments.augmentation generate' first")
    parts = [torch.load(p) for p in paths]
    return ImageSet(torch.cat([p["images"] for p in parts]), torch.cat([p["labels"] for p in parts]),
                    f"{n} digits from the reference ({SAMPLER}, w = {GUIDANCE})",
                    tuple(str(k) for k in range(10)), "", True)


def judge_record() -> dict:
    """The committed judge as the real-digit run: the same recipe and seed on the same 60,000 digits."""
    info = json.loads(JUDGE_RECORD.read_text())
    return {"accuracy": info["test_accuracy"], "train_images": info["train_images"],
            "epochs": info["config"]["epochs"], "steps": FULL_STEPS, "seconds": info["wall_time_s"],
            "from": "models/digit_classifier.json"}


def train_all(generated: ImageSet, judge=None, steps: int | None = None, per_class=(10, 100),
              train_real: bool = True) -> dict:
    """Every training set of the module docstring, trained and tested; returns {name: result}.

    ``train_real=False`` takes the real-digit run from the committed judge's record instead.
    """
    _, real = judge or load_judge()
    sets = {"real": real.train, "generated": generated} if train_real else {"generated": generated}
    for k in per_class:
        few = per_class_subset(real.train, k, seed=0)
        sets[f"real_{k}_per_class"] = few
        sets[f"real_{k}_per_class_plus_generated"] = combine(few, generated)
    runs = {} if train_real else {"real": judge_record()}
    for name, data in sets.items():
        runs[name] = classification_accuracy_score(data, real.test, **({} if steps is None else {"steps": steps}))
        print(name, runs[name], flush=True)
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["generate", "train"])
    parser.add_argument("--n", type=int, default=N, help="digits to generate (default: as many as MNIST's training set)")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="digits per saved chunk")
    parser.add_argument("--folder", default=str(CHUNKS), help="where the chunks of generated digits go")
    parser.add_argument("--steps", type=int, default=None, help="classifier steps (default: the recipe's 2,345)")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--no-real", action="store_true",
                        help="take the real-digit run from the committed judge's record (same recipe, seed and digits)")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    judge = load_judge()
    if args.part == "generate":
        timing = generate(args.n, args.chunk, folder, judge=judge)
        write({**timing, "n": args.n, "sampler": SAMPLER, "guidance": GUIDANCE,
               **provenance("augmentation", argv, "cpu")}, args.out, "augmentation_generation")
        return
    runs = train_all(load_generated(args.n, args.chunk, folder), judge, args.steps, train_real=not args.no_real)
    write({"runs": runs, "sampler": SAMPLER, "guidance": GUIDANCE, "generated": args.n,
           "test_images": len(judge[1].test), **provenance("augmentation", argv, "cpu")}, args.out, "augmentation")


if __name__ == "__main__":
    main()
