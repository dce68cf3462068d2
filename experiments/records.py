"""The training commands of the committed models, spelled with every setting so that they rerun
exactly with today's command line whatever its defaults become.

    python -m experiments.records            # rewrite the 'command' of each record under models/
    python -m experiments.records --check    # exit 1 when a record's command is not what this writes

A record's ``command`` is a list of shell commands run in order (several for a run in sittings
whose budget changed between them); ``history`` keeps how the run was actually made when that
differed in ways that do not change the result (which machine, how many sittings).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys

from helpers.cli import config_flags
from helpers.config import Config
from helpers.io import ROOT, save_json

DATA = "DDPM_DATA=path/to/MNIST/raw"        # the folder of the full data set on your machine


def train(out: str, config: Config, *extra: str, dataset_env: str = DATA) -> str:
    """``python -m helpers train --out OUT`` with every field of ``config`` spelled out."""
    return " ".join([dataset_env, "python -m helpers train --out", out, *map(shlex.quote, config_flags(config)),
                     *extra, "--no-progress"]).strip()


def resume(out: str, **budgets) -> str:
    """Continue ``out`` with new budgets: the checkpoint keeps every other setting."""
    flags = [f"--{k.replace('_', '-')} {'none' if v is None else v}" for k, v in budgets.items()]
    return f"{DATA} python -m helpers train --out {out} --resume {' '.join(flags)} --no-progress"


def commands(name: str, config: Config) -> list[str]:
    """The commands that made models/<name>.json's model, from its config."""
    fashion = "DDPM_DATA=path/to/fashion-mnist"
    if name == "ddpm_reference":          # 26,000 steps, then resumed to 52,000 (the cosine restarts at its midpoint)
        out = "checkpoints/reference_cpu.pt"
        return [train(out, config.replace(max_steps=26000)), resume(out, epochs=None, max_steps=52000, max_minutes=None)]
    if name == "fashion_reference":       # planned for 20,000 steps, shortened to 14,000 after 1,876
        out = "checkpoints/fashion_reference.pt"
        return [train(out, config.replace(max_steps=20000), "--sitting-steps 1876", dataset_env=fashion),
                resume(out, epochs=None, max_steps=14000, max_minutes=None).replace(DATA, fashion)]
    return [train(f"checkpoints/{name}.pt", config)]


def classifier_command(record: dict) -> list[str]:
    c = record["config"]
    data = "DDPM_DATA=path/to/fashion-mnist" if c.get("dataset") == "fashion" else DATA
    return [f"{data} python -m helpers train-classifier --dataset {c.get('dataset', 'mnist')} --out "
            f"{record['out']} --epochs {c['epochs']} --seed {c['seed']} --lr {c['lr']!r} --batch-size {c['batch_size']} "
            "--no-progress"]


def distill_command(record: dict) -> list[str]:
    d = record["distilled"]
    return [f"{DATA} python -m experiments.distill --teacher models/{d['teacher']} --guidance {d['guidance']} "
            "--start-steps 16 --final-steps 2 --train-steps 1500 --lr 0.0002 --batch-size 64 --n 1000 --seed 0 "
            "--threads 1"]


def expected(path, record: dict) -> list[str]:
    """What ``record['command']`` should be for the record at ``path``."""
    if path.stem == "clip_small":
        from experiments.train_clip import command
        from helpers.clip_train import config_from_dict
        return [command(config_from_dict(record["config"]))]
    if "classifier" in path.stem:
        return classifier_command({**record, "out": str(path.relative_to(ROOT).with_suffix(".pt"))})
    if record.get("distilled"):
        return distill_command(record)
    return commands(path.stem, Config.from_dict(record["config"]))


IN_TRAINING = "in_training"    # models/in_training/: runs between sittings, whole training state, no record yet


def records():
    """The records of the committed models (runs still in training have none yet)."""
    return sorted(p for p in (ROOT / "models").rglob("*.json") if IN_TRAINING not in p.parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if a record differs")
    args = parser.parse_args(argv)
    stale = []
    for path in records():
        record = json.loads(path.read_text())
        want = expected(path, record)
        if record.get("command") == want:
            continue
        stale.append(path)
        if not args.check:
            if isinstance(record.get("command"), str):
                record.setdefault("history", record["command"])
            save_json({**record, "command": want}, path)
    for path in stale:
        print(f"{'stale' if args.check else 'rewrote'}: {path.relative_to(ROOT)}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
