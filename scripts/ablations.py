"""Architecture ablations at an equal training budget, and image quality over training.

    python scripts/ablations.py                    # 4 variants x 400 steps, ~20 min on a 2-core CPU
    python scripts/ablations.py --steps 20 --n 50  # a quick try-out

Trains, from the same seed and on the same batches, for the same number of optimiser steps:

- ``baseline``: the default class-conditional U-Net;
- ``no_skip``: the same without its skip connections (the decoder sees only the bottleneck);
- ``no_time``: the same without the time embedding (the network must guess t from the image);
- ``unconditional``: the same without class labels.

Each is scored by the project's evaluation on ``--n`` samples (DDIM, ``--sampler-steps`` steps):
conditional variants guided (w = 2, balanced labels) and unguided (w = 0, the same network
without labels); the unconditional one without labels. The baseline is also scored at intermediate steps (image quality over training).
Every variant's held-out loss per timestep bucket is measured on MNIST test digits. Results go
to ``results/ablations.json`` (committed); checkpoints to ``checkpoints/ablations/`` (not committed,
written atomically, so an interrupted run resumes with the same command).
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import sys
import time
from pathlib import Path

import torch
import torchvision

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers.checkpoint import save_json  # noqa: E402
from helpers.classifier import load_classifier  # noqa: E402
from helpers.config import Config  # noqa: E402
from helpers.data import load_images  # noqa: E402
from helpers.device import hardware, make_generator, pick_device  # noqa: E402
from helpers.evaluate import evaluate_samples, load_reference  # noqa: E402
from helpers.sampling import eps_model, sample_many  # noqa: E402
from helpers.train import train  # noqa: E402
from helpers.unet import count_parameters  # noqa: E402

VARIANTS = {
    "baseline": {},
    "no_skip": {"skip_connections": False},
    "no_time": {"time_embedding": False},
    "unconditional": {"num_classes": None},
}
T_BUCKETS = 10


@torch.no_grad()
def loss_by_timestep(model, diffusion, images: torch.Tensor, labels: torch.Tensor | None, seed: int) -> list[float]:
    """Noise-prediction MSE of ``model`` on ``images`` (N, 1, 28, 28) in each of T_BUCKETS equal t ranges.

    Every image is noised once per bucket at a t drawn uniformly inside it. Predicting eps = 0 scores 1.
    """
    g = make_generator(seed)
    edges = torch.linspace(0, diffusion.T, T_BUCKETS + 1).long()
    f = eps_model(model, labels)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        t = torch.randint(int(lo), int(hi), (len(images),), generator=g)
        noise = torch.randn(images.shape, generator=g)
        out.append(float(torch.nn.functional.mse_loss(f(diffusion.q_sample(images, t, noise), t), noise)))
    return out


def score(model, diffusion, classifier, reference, n: int, steps: int, guidance: float | None, seed: int,
          png: Path | None = None) -> dict:
    """Evaluate n DDIM samples: guided with balanced labels, or unconditional when guidance is None."""
    model.eval()
    if guidance is None or model.num_classes is None:
        labels, guidance = None, None
    else:
        labels = torch.arange(n) % 10
    images = sample_many(model, diffusion.respaced(steps), n, labels, guidance, make_generator(seed),
                         sampler="ddim")
    result = evaluate_samples(classifier, images, labels, reference, seed=seed)
    result.pop("reference", None)
    if png is not None:                      # the first 20 samples (labels 0-9 twice), for the report
        png.parent.mkdir(parents=True, exist_ok=True)
        torchvision.utils.save_image((images[:20] + 1) / 2, png, nrow=10, padding=1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="optimiser steps per variant (default 400)")
    parser.add_argument("--snapshots", default="50,100,200", help="extra baseline steps to score")
    parser.add_argument("--n", type=int, default=500, help="samples per score (default 500)")
    parser.add_argument("--sampler-steps", type=int, default=25, help="DDIM steps (default 25)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset")
    parser.add_argument("--out", default=str(ROOT / "results" / "ablations.json"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    device = pick_device("auto")
    data = load_images("mnist", train=True)
    test = load_images("mnist", train=False)
    if "MNIST at" not in data.source:
        raise SystemExit(f"needs full MNIST (got {data.source}); set DDPM_DATA")
    classifier = load_classifier(None, device)
    reference = load_reference(classifier)
    probe_idx = torch.randperm(len(test), generator=make_generator(args.seed))[:1000]   # held-out loss probe
    snapshots = sorted(int(s) for s in args.snapshots.split(",") if s.strip() and int(s) < args.steps)
    out_path = Path(args.out)
    grids = out_path.parent / "ablation_samples"
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    for name in args.variants.split(","):
        config = Config(seed=args.seed, epochs=None, max_steps=args.steps, **VARIANTS[name])
        kept: dict[int, dict] = {}

        def keep(state):
            if state.step in snapshots:
                kept[state.step] = copy.deepcopy(state.sampling_model.state_dict())

        start = time.monotonic()
        ckpt = ROOT / "checkpoints" / "ablations" / f"{name}_{args.steps}.pt"
        state = train(config, data, out=ckpt, resume=True, device=device, progress=False,
                      callback=keep if name == "baseline" else None, callback_every=min([50] + snapshots))
        train_s = time.monotonic() - start
        model, diffusion = state.sampling_model, state.diffusion
        probe_labels = test.labels[probe_idx] if config.conditional else None
        entry = {"config": config.to_dict(), "parameters": count_parameters(state.model), "steps": state.step,
                 "train_seconds_this_run": round(train_s, 1), "train_seconds_total": round(state.elapsed_s, 1),
                 "final_loss_mean_50": sum(state.losses[-50:]) / len(state.losses[-50:]),
                 "loss_by_t": loss_by_timestep(model, diffusion, test.images[probe_idx], probe_labels, args.seed),
                 # conditional: w = 0 uses the same network without labels, the fair match for 'unconditional'
                 "unguided": score(model, diffusion, classifier, reference, args.n, args.sampler_steps,
                                   0.0 if config.conditional else None, args.seed,
                                   png=None if config.conditional else grids / f"{name}_{state.step}.png")}
        if config.conditional:
            entry["guided"] = score(model, diffusion, classifier, reference, args.n, args.sampler_steps, 2.0,
                                    args.seed, png=grids / f"{name}_{state.step}.png")
        if kept:
            snap_model = copy.deepcopy(model)
            entry["over_training"] = {}
            for step, weights in sorted(kept.items()):
                snap_model.load_state_dict(weights)
                entry["over_training"][step] = score(snap_model, diffusion, classifier, reference, args.n,
                                                     args.sampler_steps, 2.0, args.seed,
                                                     png=grids / f"{name}_{step}.png")
            entry["over_training"][state.step] = entry["guided"]
        results[name] = entry
        main_score = entry.get("guided", entry["unguided"])
        print(json.dumps({"variant": name, "steps": state.step, "accuracy": main_score["accuracy"],
                          "fid": main_score["distances"]["fid"], "floor": main_score["floor"]["fid"],
                          "loss": entry["final_loss_mean_50"], "train_s": round(train_s)}), flush=True)
        results["_meta"] = {"command": "python scripts/ablations.py " + " ".join(sys.argv[1:]),
                            "n": args.n, "sampler": f"ddim-{args.sampler_steps}", "guidance": 2.0,
                            "t_buckets": T_BUCKETS, "hardware": hardware(device),
                            "date": datetime.date.today().isoformat()}
        save_json(results, out_path)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
