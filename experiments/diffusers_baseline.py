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


def main(argv: list[str] | None = None) -> None:
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
    args = p.parse_args(argv)
    threads = set_threads(args.threads)
    fast = args.quick or quick(argv)
    minutes, n = (0.05, 20) if fast else (args.minutes, args.n)
    torch.manual_seed(args.seed)
    channels = tuple(int(c) for c in args.channels.split(","))
    model = build_unet(channels, args.layers)
    params = sum(p.numel() for p in model.parameters())
    train_sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", prediction_type="epsilon")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.95, 0.999), weight_decay=1e-6, eps=1e-8)
    ema = EMAModel(model.parameters(), decay=0.9999, use_ema_warmup=True, inv_gamma=1.0, power=3 / 4)
    data = load_images("mnist", train=True)
    g = torch.Generator().manual_seed(args.seed)
    per_epoch = len(data) // args.batch_size

    def step(i: int, lr_sched) -> float:
        order = epoch_order(len(data), args.seed, i // per_epoch)
        idx = order[(i % per_epoch) * args.batch_size:(i % per_epoch + 1) * args.batch_size]
        x0, y = data.images[idx], drop_labels(data.labels[idx], 0.1, NULL, g)
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, train_sched.config.num_train_timesteps, (len(x0),), generator=g)
        loss = torch.nn.functional.mse_loss(model(train_sched.add_noise(x0, noise, t), t, class_labels=y).sample, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)    # the example clips at 1.0 too
        opt.step()
        if lr_sched is not None:
            lr_sched.step()
        ema.step(model.parameters())
        return loss.item()

    model.train()
    budget_s = 60 * minutes
    start = time.perf_counter()

    def schedule(now: int, t_from: float, steps_from: int):
        """diffusers' cosine schedule planned for the steps that fit the rest of the budget, caught up to step ``now``."""
        per_step = (time.perf_counter() - t_from) / max(1, now - steps_from)
        planned = max(now + 1, now + int((budget_s - (time.perf_counter() - start)) / per_step))
        sched = get_scheduler("cosine", optimizer=opt, num_warmup_steps=500, num_training_steps=planned)
        with warnings.catch_warnings():       # stepping the new schedule to where training is, on purpose
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
            for _ in range(now):
                sched.step()
        return sched, planned

    # Plan from the speed of 20 steps, after 5 untimed ones that pay one-off costs (see the docstring).
    losses = [step(i, None) for i in range(5)]
    probe = time.perf_counter()
    losses += [step(i, None) for i in range(5, 25)]
    lr_sched, planned = schedule(25, probe, 5)
    last_plan, replans = (time.perf_counter(), 25), [0.25, 0.5, 0.75, 0.9]
    i = 25
    while time.perf_counter() - start < budget_s and i < planned:
        losses.append(step(i, lr_sched))
        i += 1
        if replans and time.perf_counter() - start > replans[0] * budget_s:
            lr_sched, planned = schedule(i, *last_plan)
            last_plan = (time.perf_counter(), i)
            replans.pop(0)
    train_s = time.perf_counter() - start
    ema.copy_to(model.parameters())
    model.eval()
    labels = torch.arange(n) % 10
    t0 = time.perf_counter()
    images = sample(model, train_sched, labels, args.guidance, args.sampler_steps, args.seed)
    sample_s = time.perf_counter() - t0
    if args.save_samples:
        save_samples(images, labels, args.save_samples, {"diffusers": diffusers.__version__})
    classifier, real = load_judge("cpu", need_full=False)
    s = evaluate_samples(classifier, images, labels, real, seed=args.seed)
    fid, floor = s["distances"]["fid"], s["floor"]["fid"]
    emit({"benchmark": "diffusers_baseline", "label": args.label, "diffusers": diffusers.__version__,
          "budget": {"minutes": minutes}, "batch_size": args.batch_size, "lr": args.lr,
          "train_s": round(train_s, 1), "train_steps": i, "planned_steps": planned,
          "images_per_s_train": round(i * args.batch_size / train_s, 1),
          "final_loss_mean_50": round(sum(losses[-50:]) / len(losses[-50:]), 4), "parameters": params,
          "block_out_channels": list(channels), "layers_per_block": args.layers, "data": data.source,
          "threads": threads, **provenance("diffusers_baseline", argv, "cpu"), "n": n, "guidance": args.guidance,
          "sampler": "ddim (diffusers DDIMScheduler)", "sampler_steps": args.sampler_steps,
          "accuracy": round(s["accuracy"], 4), "recognisable": round(s["share_confident"], 4),
          "fid": round(fid, 3), "floor_fid": round(floor, 3), "fid_over_floor": round(fid / floor, 2),
          "sample_s": round(sample_s, 1)}, args.out)


if __name__ == "__main__":
    main()
