"""What the experiments share: the judge and its real images, sample-and-score, provenance, results files.

Every experiment records how it was made (:func:`provenance`: the command, the hardware and
the date) beside its numbers, and writes through :func:`write`: a part of a JSON file, or
one line of a JSON-lines file, always atomically.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

from helpers.device import make_generator, provenance as _provenance
from helpers.evaluation.classifier import load_classifier
from helpers.evaluation.fid import RealImages, load_real_images
from helpers.evaluation.metrics import within_class_diversity
from helpers.evaluation.report import evaluate_samples
from helpers.io import ROOT, append_jsonl, reference_model, save_samples, update_json
from helpers.samplers import Sampler, parse_sampler
from helpers.sampling import parse_labels, prior_labels, sample

RESULTS = ROOT / "results"
REFERENCE = reference_model("mnist")


def provenance(module: str, argv: list[str] | None, device) -> dict:
    """``command`` (as typed from the repository root), ``hardware`` and ``date`` of this run."""
    args = sys.argv[1:] if argv is None else argv
    return _provenance(device, " ".join(["python -m experiments." + module, *args]))


def quick(argv: list[str] | None = None) -> bool:
    """True under ``--quick`` or DDPM_FAST=1: tiny sizes that check an experiment runs, not figures."""
    return "--quick" in (sys.argv if argv is None else argv) or os.environ.get("DDPM_FAST") == "1"


def set_threads(threads: int | None) -> int:
    """Use ``threads`` torch threads (default: every core); returns the number in use."""
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def load_judge(device="cpu", need_full: bool = True, dataset: str = "mnist") -> tuple:
    """(the classifier of ``dataset``, :class:`RealImages` of it); exits with a clear line when the
    full data set is needed for an honest floor and only the offline fallback is here."""
    classifier = load_classifier(None, device, dataset)
    real = load_real_images(classifier)
    if need_full and not real.is_full:
        name = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}.get(dataset, dataset)
        raise SystemExit(f"this experiment needs full {name} for an honest floor (found {real.test.source}); "
                         + ("set DDPM_DATA to a folder holding MNIST/raw" if dataset == "mnist"
                            else "install it (make fashion-data) or run once with internet access"))
    return classifier, real


def guided_labels(n: int, real: RealImages, how: str = "prior") -> torch.Tensor:
    """n labels (n,): in the training set's class proportions ('prior') or 0..K-1 in turn ('balanced')."""
    k = len(real.train.class_names)
    if how == "balanced":
        return parse_labels("balanced", n, k)
    return prior_labels(n, torch.bincount(real.train.labels, minlength=k))


def sample_and_score(model, diffusion, classifier, real: RealImages, n: int, guidance: float | None,
                     sampler: str | Sampler = "ddim:25", seed: int = 0, batch_size: int = 500,
                     labels: str = "prior", save: Path | None = None, checkpoint: str = "") -> dict:
    """Sample n images (labelled as ``labels`` says; none when ``guidance`` is None) and score them.

    Returns the settings (n, guidance, labels, sampler, steps, eta, seed, seconds, images_per_s)
    and every score of :func:`helpers.evaluation.report.evaluate_samples`, plus within-class
    diversity for labelled samples (two or more of a class): one JSON-ready dict. ``save``: also write the samples file.
    """
    sampler = parse_sampler(sampler)
    y = None if guidance is None else guided_labels(n, real, labels)
    device = next(model.parameters()).device
    start = time.monotonic()
    images = sample(model, diffusion, n, y, guidance, make_generator(seed, device), sampler, batch_size)
    seconds = time.monotonic() - start
    settings = {"n": n, "guidance": guidance, "labels": None if y is None else labels, "sampler": sampler.name,
                "steps": sampler.chain(diffusion).T, "eta": sampler.eta if sampler.name == "ddim" else None,
                "network_calls": sampler.network_calls(diffusion),
                "seed": seed, "seconds": round(seconds, 1), "images_per_s": round(n / seconds, 2)}
    if save is not None:
        save_samples(images, y, save, {**settings, "checkpoint": checkpoint})
    scores = evaluate_samples(classifier, images, y, real, seed=seed)
    if y is not None and int(torch.bincount(y).max()) > 1:          # diversity needs two of a class
        scores["within_class_diversity"] = within_class_diversity(classifier, images, y, real.test)
    scores.pop("reference", None)
    return {**settings, **scores}


def summary(record: dict) -> dict:
    """The headline of a :func:`sample_and_score` record: accuracy, recognisable, FID against its floor, speed."""
    fid, floor = record["distances"]["fid"], record["floor"]["fid"]
    return {"n": record["n"], "guidance": record["guidance"], "sampler": record["sampler"],
            "sampler_steps": record["steps"], "network_calls": record.get("network_calls"), "accuracy": None if record["accuracy"] is None else round(record["accuracy"], 4),
            "recognisable": round(record["share_confident"], 4), "fid": round(fid, 3), "floor_fid": round(floor, 3),
            "fid_over_floor": round(fid / floor, 2), "sample_s": record["seconds"],
            "images_per_s": record["images_per_s"]}


def write(record: dict, out: str | os.PathLike, key: str | None = None) -> Path:
    """Record a result: as part ``key`` of the JSON object in ``out`` (a .json file), or as one
    more line of ``out`` (a .jsonl file). Atomic either way; prints where it went."""
    out = Path(out)
    if out.suffix == ".jsonl":
        path = append_jsonl(record, out)
    elif key is None:
        raise ValueError(f"{out} is a .json file of named parts: a key is needed")
    else:
        path = update_json(out, key, record)
    print(f"wrote {'a line' if key is None else f'part {key!r}'} to {path}", flush=True)
    return path


def emit(record: dict, out: str | os.PathLike | None = None) -> dict:
    """Print ``record`` as one JSON line and, with ``out`` (a .jsonl file), append it there too."""
    print(json.dumps(record, default=float), flush=True)
    if out:
        write(record, out)
    return record
