"""Side by side: what a user would pick instead (Hugging Face diffusers), same data, same CPU minutes.

    python -m experiments.diffusers_baseline --minutes 15
    python -m experiments.diffusers_baseline --quick  # checks that it runs (CI)

The diffusers side follows the library's own training example
(examples/unconditional_image_generation/train_unconditional.py) in everything it sets:
``UNet2DModel`` with attention blocks, ``DDPMScheduler`` (1,000 steps, linear betas, epsilon
prediction), AdamW (lr 1e-4, betas 0.95/0.999, weight decay 1e-6, eps 1e-8), cosine learning
rate with 500 warm-up steps (``get_scheduler``), and ``EMAModel`` (inv_gamma 1, power 3/4, max
decay 0.9999). To be comparable with the course's conditional model it gets class labels
through ``num_class_embeds`` with the same label dropout (0.1) for classifier-free guidance,
the same batch size as the course's default configuration (``Config.batch_size``) and the
same data order; it samples with ``DDIMScheduler`` (25 steps,
w = 2). Its width is chosen for a parameter count near the course's default model.

The wall-clock budget covers training only. The cosine schedule needs a step count up front,
so it is planned from the speed of the first 25 steps and planned again, from the speed since
the last plan, at 1/4, 1/2, 3/4 and 9/10 of the budget: steps get faster as a run goes on, and
one plan left up to a quarter of the budget unused (``results/README.md``).
Scoring uses the project's evaluation, as ``experiments.time_to_digits`` does.
"""
from __future__ import annotations

import argparse
import time
import warnings

import torch

from experiments.common import emit, load_judge, provenance, quick, set_threads
from helpers.config import Config
from helpers.data import epoch_order, load_images
from helpers.evaluation.report import evaluate_samples
from helpers.io import save_samples
from helpers.train import drop_labels

try:
    import diffusers
    from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel
except ImportError:                                     # pragma: no cover - message only
    raise SystemExit("this benchmark needs diffusers: pip install diffusers") from None

NULL = 10          # the "no label" class index, as in the course's U-Net


def build_unet(channels: tuple[int, ...], layers: int) -> UNet2DModel:
    """A class-conditional diffusers U-Net for 28x28 digits; attention below full resolution."""
    downs = ("DownBlock2D",) + ("AttnDownBlock2D",) * (len(channels) - 1)
    ups = ("AttnUpBlock2D",) * (len(channels) - 1) + ("UpBlock2D",)
    return UNet2DModel(sample_size=28, in_channels=1, out_channels=1, layers_per_block=layers,
                       block_out_channels=channels, down_block_types=downs, up_block_types=ups,
                       norm_num_groups=8, num_class_embeds=NULL + 1)


@torch.no_grad()
def sample(model: UNet2DModel, train_sched: DDPMScheduler, labels: torch.Tensor, w: float, steps: int,
           seed: int, batch_size: int = 500) -> torch.Tensor:
    """DDIM (diffusers' scheduler, eta 0) with classifier-free guidance w; returns (n, 1, 28, 28) in [-1, 1]."""
    sched = DDIMScheduler.from_config(train_sched.config)
    sched.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    out = []
    for lo in range(0, len(labels), batch_size):
        y = labels[lo:lo + batch_size]
        x = torch.randn((len(y), 1, 28, 28), generator=g)
        null = torch.full_like(y, NULL)
        for t in sched.timesteps:
            tt = torch.full((2 * len(y),), int(t))
            eps = model(torch.cat([x, x]), tt, class_labels=torch.cat([y, null])).sample
            cond, uncond = eps.chunk(2)
            x = sched.step(uncond + w * (cond - uncond), t, x).prev_sample
        out.append(x.clamp(-1, 1))
    return torch.cat(out)


class Recipe:
    """diffusers' training example, one optimiser step at a time, on the course's data order and batch."""

    def __init__(self, model: UNet2DModel, data, batch_size: int, lr: float, seed: int):
        self.model, self.data, self.batch_size, self.seed = model.train(), data, batch_size, seed
        self.sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", prediction_type="epsilon")
        self.opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.95, 0.999), weight_decay=1e-6, eps=1e-8)
        self.ema = EMAModel(model.parameters(), decay=0.9999, use_ema_warmup=True, inv_gamma=1.0, power=3 / 4)
        self.g, self.per_epoch = torch.Generator().manual_seed(seed), len(data) // batch_size

    def step(self, i: int, lr_sched) -> float:
        """Optimiser step ``i``: batch, noise, loss, AdamW, learning-rate step, EMA; returns the loss."""
        order = epoch_order(len(self.data), self.seed, i // self.per_epoch)
        idx = order[(i % self.per_epoch) * self.batch_size:(i % self.per_epoch + 1) * self.batch_size]
        x0, y = self.data.images[idx], drop_labels(self.data.labels[idx], 0.1, NULL, self.g)
        noise = torch.randn(x0.shape, generator=self.g)
        t = torch.randint(0, self.sched.config.num_train_timesteps, (len(x0),), generator=self.g)
        pred = self.model(self.sched.add_noise(x0, noise, t), t, class_labels=y).sample
        loss = torch.nn.functional.mse_loss(pred, noise)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)    # the example clips at 1.0 too
        self.opt.step()
        if lr_sched is not None:
            lr_sched.step()
        self.ema.step(self.model.parameters())
        return loss.item()

    def plan(self, now: int, seconds_per_step: float, seconds_left: float):
        """diffusers' cosine schedule planned for the steps that fit ``seconds_left``, caught up to step ``now``."""
        planned = max(now + 1, now + int(seconds_left / seconds_per_step))
        sched = get_scheduler("cosine", optimizer=self.opt, num_warmup_steps=500, num_training_steps=planned)
        with warnings.catch_warnings():       # stepping the new schedule to where training is, on purpose
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
            for _ in range(now):
                sched.step()
        return sched, planned


def train_for(recipe: Recipe, budget_s: float) -> dict:
    """Train for ``budget_s`` wall-clock seconds, re-planning the schedule as the docstring says."""
    start = time.perf_counter()
    losses = [recipe.step(i, None) for i in range(5)]        # untimed: they pay one-off costs
    probe = time.perf_counter()
    losses += [recipe.step(i, None) for i in range(5, 25)]
    last = (time.perf_counter(), 25)
    lr_sched, planned = recipe.plan(25, (last[0] - probe) / 20, budget_s - (last[0] - start))
    replans, i = [0.25, 0.5, 0.75, 0.9], 25
    while time.perf_counter() - start < budget_s and i < planned:
        losses.append(recipe.step(i, lr_sched))
        i += 1
        if replans and time.perf_counter() - start > replans[0] * budget_s:
            now = time.perf_counter()
            lr_sched, planned = recipe.plan(i, (now - last[0]) / max(1, i - last[1]), budget_s - (now - start))
            last = (time.perf_counter(), i)
            replans.pop(0)
    recipe.ema.copy_to(recipe.model.parameters())
    return {"train_s": round(time.perf_counter() - start, 1), "train_steps": i, "planned_steps": planned,
            "final_loss_mean_50": round(sum(losses[-50:]) / len(losses[-50:]), 4)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=15.0, help="wall-clock training budget")
    p.add_argument("--channels", default="16,24,24", help="block_out_channels of UNet2DModel")
    p.add_argument("--layers", type=int, default=1, help="layers_per_block of UNet2DModel")
    p.add_argument("--batch-size", type=int, default=Config().batch_size, help="default: the course's")
    p.add_argument("--lr", type=float, default=1e-4,
                   help="peak learning rate (default: diffusers' example, 1e-4; a sanity check of this harness "
                        "runs it at the course's 2e-3)")
    p.add_argument("--n", type=int, default=1000, help="guided samples to score")
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--sampler-steps", type=int, default=25)
    p.add_argument("--threads", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", default="", help="a name for this run in the results")
    p.add_argument("--save-samples", help="also write the scored samples to this samples file (.pt)")
    p.add_argument("--out", help="also append the JSON line to this .jsonl file")
    p.add_argument("--quick", action="store_true", help="tiny budget and sample count: checks that it runs")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    threads = set_threads(args.threads)
    minutes, n = (0.05, 20) if args.quick or quick(argv) else (args.minutes, args.n)
    torch.manual_seed(args.seed)
    channels = tuple(int(c) for c in args.channels.split(","))
    data = load_images("mnist", train=True)
    recipe = Recipe(build_unet(channels, args.layers), data, args.batch_size, args.lr, args.seed)
    trained = train_for(recipe, 60 * minutes)
    recipe.model.eval()
    labels = torch.arange(n) % 10
    t0 = time.perf_counter()
    images = sample(recipe.model, recipe.sched, labels, args.guidance, args.sampler_steps, args.seed)
    sample_s = time.perf_counter() - t0
    if args.save_samples:
        save_samples(images, labels, args.save_samples, {"diffusers": diffusers.__version__})
    classifier, real = load_judge("cpu", need_full=False)
    s = evaluate_samples(classifier, images, labels, real, seed=args.seed)
    fid, floor = s["distances"]["fid"], s["floor"]["fid"]
    return emit({"benchmark": "diffusers_baseline", "label": args.label, "diffusers": diffusers.__version__,
                 "budget": {"minutes": minutes}, "batch_size": args.batch_size, "lr": args.lr, **trained,
                 "images_per_s_train": round(trained["train_steps"] * args.batch_size / trained["train_s"], 1),
                 "parameters": sum(p.numel() for p in recipe.model.parameters()),
                 "block_out_channels": list(channels), "layers_per_block": args.layers, "data": data.source,
                 "threads": threads, **provenance("diffusers_baseline", argv, "cpu"), "n": n,
                 "guidance": args.guidance, "sampler": "ddim (diffusers DDIMScheduler)",
                 "sampler_steps": args.sampler_steps, "accuracy": round(s["accuracy"], 4),
                 "recognisable": round(s["share_confident"], 4), "fid": round(fid, 3), "floor_fid": round(floor, 3),
                 "fid_over_floor": round(fid / floor, 2), "sample_s": round(sample_s, 1)}, args.out)


if __name__ == "__main__":
    main()
