"""The training loop: noise-prediction MSE, Adam, optional EMA, budgets, safe checkpoints.

One training step (Ho et al. 2020, Algorithm 1): take a batch x0, draw t and
noise, build x_t = q_sample(x0, t, noise), and regress the model's output on
the noise (:func:`noise_prediction_loss`). For class-conditional models each label is replaced by the "no
label" index with probability ``p_uncond``, so one network also learns the
unconditional prediction that classifier-free guidance needs. A text-conditioned model
(``condition="text"``) is told each image's caption instead, embedded by the frozen small CLIP
(:mod:`helpers.text_condition`); a dropped caption is the zero row, for which the U-Net uses its
learned null vector.

Training stops at the first budget reached (``epochs``, ``max_steps``,
``max_minutes``). Checkpoints are written atomically every ``save_every_s``
seconds, at the end and on interrupt, with everything needed to resume
exactly: weights, EMA, optimiser, step, elapsed time and random state.
Under torchrun the same loop runs on every process (:mod:`helpers.distributed`).
"""
from __future__ import annotations

import copy
import math
import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import torch

from .config import Config
from .data import ImageSet, epoch_order
from .device import make_generator, pick_device, progress_bar
from .distributed import Context, any_true, from_main, mean, wrap
from .flow import TIME_SAMPLING, LinearPath, flow_matching_loss, sample_times
from .io import CheckpointError, load_checkpoint, save_checkpoint
from .samplers import EpsModel
from .prediction import Coefficients, NoiseFrom, target
from .schedule import Diffusion, diffusion_from_config, extract
from .unet import UNet, unet_from_config


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite."""


class TrainingStopped(KeyboardInterrupt):
    """Training was stopped by a signal (Ctrl-C's SIGINT, or SIGTERM from a scheduler or a preempted
    runtime) and saved at a step boundary; ``signum`` is the signal's number."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


BUDGET_FIELDS = ("epochs", "max_steps", "max_minutes")


def noise_prediction_loss(diffusion: Diffusion, eps_model: EpsModel, x0: torch.Tensor,
                          generator: torch.Generator | None = None, min_snr_gamma: float | None = None,
                          t: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                          prediction: str = "eps") -> torch.Tensor:
    """The DDPM objective: mean squared error between true and predicted noise, at a random t per image.

    x0: (B, C, H, W) in [-1, 1]; t: (B,) timesteps and noise: (B, C, H, W) to use instead of
    drawing them from ``generator``; returns a scalar. Predicting eps = 0 scores 1.0.
    ``min_snr_gamma``: weight each image's error by min(SNR_t, gamma) / SNR_t (the min-SNR
    strategy of Hang et al. 2023, written for eps-prediction), which down-weights the low-noise
    steps whose eps is hard to predict and matters little; None: the plain mean.
    ``prediction``: what the network outputs, "eps" (the noise), "x0" or "v" (alpha_t eps - sigma_t x0,
    Salimans & Ho 2022); the error is measured on that target (:mod:`helpers.prediction`).
    """
    if t is None:
        t = diffusion.sample_timesteps(x0.shape[0], generator, x0.device)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    x_t = diffusion.q_sample(x0, t, noise)
    if prediction == "eps":
        want = noise
    else:
        ab = extract(diffusion.alpha_bar.to(x0.device), t, x0.ndim)
        want = target(prediction, x0, noise, Coefficients(ab.sqrt(), (1 - ab).sqrt()))
    per_image = (eps_model(x_t, t) - want).square().flatten(1).mean(1)
    if min_snr_gamma is None:
        return per_image.mean()
    snr = diffusion.snr().to(x0.device)[t]
    return (per_image * snr.clamp(max=min_snr_gamma) / snr).mean()


def lognormal_timesteps(diffusion: Diffusion, n: int, generator: torch.Generator | None = None,
                        device: torch.device | str = "cpu", mean: float = -1.2, std: float = 1.2) -> torch.Tensor:
    """EDM's training noise distribution (Karras et al. 2022) on a discrete chain: LongTensor (n,) in 0..T-1.

    Draws ln sigma ~ N(mean, std^2) and returns, per draw, the timestep whose sigma_t =
    sqrt((1 - alpha_bar_t) / alpha_bar_t) is nearest in ln sigma. Mid-noise steps come often; the
    first and last few, whose noise is easiest or nearly pure, rarely (draws beyond the ends take t = 0 or T-1).
    """
    log_sigma = (-diffusion.snr().log() / 2).to(device)                 # (T,), increasing with t
    z = mean + std * torch.randn(n, generator=generator, device=device)
    edges = (log_sigma[1:] + log_sigma[:-1]) / 2                        # midpoints between neighbouring steps
    return torch.bucketize(z, edges)


def draw_times(process: Diffusion | LinearPath, kind: str, n: int, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """n training times (n,) drawn as ``kind`` (Config.timesteps): continuous t in (0, 1) on a flow path
    (:func:`helpers.flow.sample_times`), else timesteps 0..T-1: uniform, or ln sigma ~ N(mean, std^2)."""
    if isinstance(process, LinearPath):
        return sample_times(kind, n, generator, device)
    if kind == "uniform":
        return process.sample_timesteps(n, generator, device)
    return lognormal_timesteps(process, n, generator, device, *TIME_SAMPLING[kind])


@dataclass
class TrainState:
    """What the loop hands to callbacks and returns at the end."""

    config: Config
    model: UNet
    ema: UNet | None
    optimizer: torch.optim.Optimizer
    diffusion: Diffusion
    generator: torch.Generator
    ctx: Context = Context()
    net: torch.nn.Module | None = None     # the model as the forward pass sees it (DDP-wrapped on several processes)
    step: int = 0
    elapsed_s: float = 0.0
    losses: list[float] = field(default_factory=list)
    stop_reason: str = ""
    mid_step: bool = False                 # True between a step's first update and its count moving on
    text: Callable | None = None           # text models: batch captions -> embeddings (TrainingCaptions)
    clip_sha256: str | None = None         # text models: the SHA-256 of the CLIP file they are trained with

    @property
    def sampling_model(self) -> UNet:
        """The EMA model when there is one, else the raw model; a DDPM network trained to predict x0 or v
        comes wrapped as the noise predictor the samplers take (:class:`helpers.prediction.NoiseFrom`)."""
        net = self.ema if self.ema is not None else self.model
        if self.config.method == "ddpm" and self.config.prediction != "eps":
            return NoiseFrom(net, self.config.prediction, self.diffusion.alpha_bar).to(next(net.parameters()).device)
        return net

    def to_checkpoint(self) -> dict:
        """Everything needed to resume (see :mod:`helpers.io`)."""
        return {"config": self.config.to_dict(), "model": self.model.state_dict(),
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "optimizer": self.optimizer.state_dict(), "step": self.step,
                "elapsed_s": self.elapsed_s, "losses": list(self.losses),
                "rng": self.generator.get_state(),
                **({"clip_sha256": self.clip_sha256} if self.clip_sha256 else {})}


def build_state(config: Config, device: torch.device, ctx: Context | None = None) -> TrainState:
    """Fresh model (seeded by ``config.seed``: the same on every process), EMA copy, Adam and generator."""
    ctx = ctx or Context(device=device)
    if config.batch_size % ctx.world:
        raise ValueError(f"the global batch of {config.batch_size} does not split evenly over {ctx.world} "
                         "processes; choose a batch size that is a multiple of the process count")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        # channels-last memory format: about 1.4x faster convolutions on CPU (results/README.md)
        model = unet_from_config(config).to(device, memory_format=torch.channels_last)
    ema = copy.deepcopy(model).eval().requires_grad_(False) if config.ema_decay else None
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=_fused_ok(device))
    return TrainState(config, model, ema, optimizer, diffusion_from_config(config),
                      make_generator(config.seed, device), ctx, wrap(model, ctx))


FUSED_ADAM_SINCE = {"cuda": "2.0", "cpu": "2.4"}   # the torch release that brought fused Adam to each device


def _fused_ok(device: torch.device) -> bool:
    """Fused Adam (one kernel for all parameters) where this torch build has it for ``device``;
    older releases (pyproject allows torch 2.2) get the per-parameter Adam, same arithmetic."""
    since = FUSED_ADAM_SINCE.get(device.type)
    return since is not None and torch.torch_version.TorchVersion(torch.__version__) >= since


def restore_state(state: TrainState, ckpt: dict) -> None:
    """Load a checkpoint dict (from :func:`load_checkpoint`) into ``state`` in place."""
    state.model.load_state_dict(ckpt["model"])
    if state.ema is not None and ckpt.get("ema") is not None:
        state.ema.load_state_dict(ckpt["ema"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.step, state.elapsed_s = ckpt["step"], ckpt["elapsed_s"]
    state.losses = list(ckpt["losses"])
    # Generator.set_state takes a CPU ByteTensor for every device's generator, CUDA's included
    state.generator.set_state(ckpt["rng"].cpu())
    state.clip_sha256 = ckpt.get("clip_sha256")


def planned_steps(config: Config, n_images: int) -> int | None:
    """Steps allowed by the epoch and step budgets (None if only time limits the run)."""
    per_epoch = max(1, n_images // config.batch_size)
    limits = [config.epochs * per_epoch if config.epochs else None, config.max_steps]
    limits = [x for x in limits if x is not None]
    return min(limits) if limits else None


def learning_rate(config: Config, step: int, progress: float) -> float:
    """Linear warm-up over ``warmup_steps``, then constant or cosine decay in ``progress`` (0..1)."""
    warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    if config.lr_schedule == "cosine":
        return config.lr * warm * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr * warm


def update_ema(ema: UNet, model: UNet, decay: float, step: int) -> None:
    """ema <- d * ema + (1 - d) * model, with d warmed up as min(decay, (1 + step) / (10 + step))."""
    d = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - d)
        for e, b in zip(ema.buffers(), model.buffers()):
            e.copy_(b)


def drop_labels(y: torch.Tensor, p_uncond: float, null_label: int | float, generator: torch.Generator | None,
                ctx: Context = Context()) -> torch.Tensor:
    """Replace each label by ``null_label`` with probability ``p_uncond``. y: (B,) -> (B,); caption
    embeddings y: (B, D) -> (B, D), a dropped row filled with ``null_label`` (0: "no caption").

    On several processes ``y`` is this process's rows of the global batch, and the draw covers all of it.
    """
    drop = torch.rand((len(y) * ctx.world,), generator=generator, device=y.device)[ctx.rows] < p_uncond
    return torch.where(drop.view(-1, *[1] * (y.ndim - 1)), torch.full_like(y, null_label), y)


def train_step(state: TrainState, x0: torch.Tensor, y: torch.Tensor | None, lr: float) -> float:
    """One optimiser step on batch x0 (B, C, H, W) with labels y (B,), caption embeddings y (B, D) or None;
    returns the loss.

    Labels to drop, timesteps and noise are drawn for the whole global batch, of which this
    process keeps its rows; the loss returned is the global batch's.
    """
    cfg, ctx, net, gen = state.config, state.ctx, state.net or state.model, state.generator
    n = x0.shape[0] * ctx.world
    net.train()
    if cfg.conditional:
        y = drop_labels(y, cfg.p_uncond, 0 if cfg.condition == "text" else cfg.num_classes, gen, ctx)
    t = draw_times(state.diffusion, cfg.timesteps, n, gen, x0.device)[ctx.rows]
    noise = torch.randn((n, *x0.shape[1:]), generator=gen, device=x0.device, dtype=x0.dtype)[ctx.rows]
    model = lambda x_t, tt: net(x_t, tt, y) if cfg.conditional else net(x_t, tt)    # noqa: E731
    with torch.autocast(x0.device.type, dtype=torch.bfloat16, enabled=cfg.mixed_precision):
        if cfg.method == "flow":
            loss = flow_matching_loss(state.diffusion, model, x0, t=t, noise=noise)
        else:
            loss = noise_prediction_loss(state.diffusion, model, x0, min_snr_gamma=cfg.min_snr_gamma, t=t,
                                         noise=noise, prediction=cfg.prediction)
    bad = any_true([not bool(torch.isfinite(loss))], ctx)    # every process learns it before anyone stops
    if bad[0]:
        where = f" on at least one of {ctx.world} processes" if ctx.world > 1 else ""
        raise TrainingDiverged(
            f"loss became non-finite{where} at step {state.step}; training stopped (weights not saved). "
            f"Try a lower learning rate than {cfg.lr} or keep grad_clip on.")
    for group in state.optimizer.param_groups:
        group["lr"] = lr
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()                                      # DDP averages the gradients of all processes here
    if cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), cfg.grad_clip)
    state.optimizer.step()
    if state.ema is not None:
        update_ema(state.ema, state.model, cfg.ema_decay, state.step)
    return mean(loss.item(), ctx)


def batch_at(data: ImageSet, config: Config, step: int, cache: dict, device, ctx: Context = Context()) -> tuple:
    """This process's share of batch number ``step``, (x0 (b, C, H, W), y (b,)) with b = batch_size / world:
    a pure function of (seed, step), so resume is exact. ``cache`` (a dict kept by the caller)
    holds the current epoch's order; together the processes' shares are the one-process batch.
    ``cache["idx"]`` is left holding the batch's indices into ``data`` (b,)."""
    per_epoch, b = max(1, len(data) // config.batch_size), config.batch_size // ctx.world
    epoch, i = divmod(step, per_epoch)
    if cache.get("epoch") != epoch:
        cache.update(epoch=epoch, order=epoch_order(len(data), config.seed, epoch, ctx.rank, ctx.world))
    idx = cache["idx"] = cache["order"][i * b:(i + 1) * b]
    return data.images[idx].to(device), data.labels[idx].to(device)


def _stop_reason(config: Config, state: TrainState, total: int | None,
                 sitting_s: float = 0.0, sitting_limit_s: float | None = None, pause_at: int | None = None) -> str:
    """Why training should stop now, or '' to go on.

    sitting_s: seconds this call of :func:`train` has run; sitting_limit_s: its own limit, which
    pauses the run without touching the budgets (so the learning-rate schedule is unchanged);
    pause_at: the step at which this call pauses likewise.
    """
    if total is not None and state.step >= total:
        return f"reached {state.step} steps"
    if config.max_minutes is not None and state.elapsed_s >= 60 * config.max_minutes:
        return f"reached the time budget of {config.max_minutes} min"
    if pause_at is not None and state.step >= pause_at and (total is None or state.step < total):
        return f"paused at step {state.step}{f' of {total}' if total else ''}; resume continues"
    if sitting_limit_s is not None and sitting_s >= sitting_limit_s:
        return (f"paused after this sitting's {sitting_limit_s / 60:g} min at step {state.step}"
                f"{f' of {total}' if total else ''}; resume continues")
    return ""


def train(config: Config, data: ImageSet, out: str | os.PathLike | None = None,
          resume: bool | str = False, overwrite: bool = False, device: str | torch.device | None = None,
          callback: Callable[[TrainState], None] | None = None, callback_every: int = 100,
          save_every_s: float = 60.0, progress: bool = True,
          sitting_minutes: float | None = None, sitting_steps: int | None = None,
          ctx: Context | None = None) -> TrainState:
    """Train a DDPM on ``data`` under ``config``'s budgets; returns the final :class:`TrainState`.

    out: checkpoint path (written atomically; None = keep in memory only). An existing ``out`` is
        never replaced silently: resume it, or pass ``overwrite=True`` to start again over it.
    resume: True continues the run saved in ``out`` (an error if there is none); "if_exists" continues
        it when it exists and starts fresh otherwise (runs in sittings). The checkpoint's settings
        win, except the budgets; settings of ``config`` that differ are named, not used.
    callback(state): called every ``callback_every`` steps and once at the end.
    sitting_minutes: pause (save and return) after this many minutes of this call, leaving the
        budgets and so the learning-rate schedule as planned: a long run in several sittings,
        each continued with ``resume=True``. ``max_minutes``, by contrast, ends the run and
        decays the schedule to zero by then.
    sitting_steps: likewise, pause after this many steps of this call (a sitting that reruns exactly).
    ctx: this process's place in a torchrun job (:func:`helpers.distributed.from_environment`);
        None: one process on ``device``. Only process 0 writes ``out`` and shows progress.
    Ctrl-C (SIGINT) or SIGTERM stops at the end of the step under way, saves ``out`` and raises
    :class:`TrainingStopped`; a second Ctrl-C stops at once, keeping the last checkpoint.
    Raises :class:`TrainingDiverged` if the loss becomes NaN or inf.
    """
    if sitting_minutes is not None and sitting_minutes <= 0:
        raise ValueError(f"sitting_minutes must be positive, got {sitting_minutes}")
    if sitting_steps is not None and sitting_steps < 1:
        raise ValueError(f"sitting_steps must be positive, got {sitting_steps}")
    if resume not in (False, True, "if_exists"):
        raise ValueError(f"resume must be False, True or 'if_exists', got {resume!r}")
    ctx = ctx or Context(device=pick_device(device) if not isinstance(device, torch.device) else device)
    state = _start(config, out, resume, overwrite, ctx)  # every process reads the checkpoint it resumes
    out = out if ctx.main else None                      # process 0 alone writes
    _check_data(state.config, data)
    if state.config.condition == "text":
        _attach_captions(state, data)
    total = planned_steps(state.config, len(data))
    bar = progress_bar(total, "training", progress and ctx.main, initial=state.step)
    try:
        with _signals_stop_at_step_boundary() as stop:
            state.stop_reason = _loop(state, data, total, bar, out, callback, callback_every, save_every_s,
                                      None if sitting_minutes is None else 60 * sitting_minutes, stop,
                                      None if sitting_steps is None else state.step + sitting_steps)
    except KeyboardInterrupt:       # raised by a callback between steps, or a second Ctrl-C within one
        if out is not None and not state.mid_step:
            save_checkpoint(state.to_checkpoint(), out)
            print(f"interrupted at step {state.step}; checkpoint saved to {out} (resume=True continues)")
        elif out is not None:       # weights may be one update ahead of the count: keep the last save
            print(f"interrupted within step {state.step + 1}; {out} keeps its last save (resume=True continues)")
        raise
    finally:
        bar.close()
    if out is not None:
        save_checkpoint(state.to_checkpoint(), out)
    if stop.get("signum"):
        name = signal.Signals(stop["signum"]).name
        saved = f"; checkpoint saved to {out} (resume=True continues)" if out is not None else ""
        raise TrainingStopped(f"{name} received: stopped after step {state.step}{saved}", stop["signum"])
    if callback is not None:
        callback(state)
    return state


@contextmanager
def _signals_stop_at_step_boundary():
    """While inside, SIGINT and SIGTERM set ``stop["signum"]`` instead of interrupting; the loop stops
    at the next step boundary. A second SIGINT interrupts at once (the previous handler is back)."""
    stop: dict = {}
    if threading.current_thread() is not threading.main_thread():   # handlers live in the main thread only
        yield stop
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        stop["signum"] = signum
        signal.signal(signal.SIGINT, previous[signal.SIGINT])       # a second Ctrl-C is not ignored
    for s in previous:
        signal.signal(s, handler)
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class CheckpointExists(CheckpointError):
    """Training was asked to write a checkpoint that already exists, without resume or overwrite."""


def _start(config: Config, out, resume: bool | str, overwrite: bool, ctx: Context) -> TrainState:
    """A fresh state, or the one saved in ``out`` with this call's budgets when resuming."""
    exists = out is not None and os.path.exists(out)
    if resume is True and not exists:
        raise CheckpointError(f"nothing to resume: {out} does not exist (check the path; to start a new run "
                              "there, leave out resume, or use resume='if_exists' / --resume-if-exists)")
    if not resume and exists and not overwrite:
        raise CheckpointExists(f"{out} already exists: resume it (resume=True, --resume), start again over it "
                               "(overwrite=True, --overwrite), or write to another path")
    if not (resume and exists):
        return build_state(config, ctx.device, ctx)
    ckpt = load_checkpoint(out, map_location="cpu")       # moved to the device below; the random state stays on the CPU
    budgets = {b: getattr(config, b) for b in BUDGET_FIELDS}
    state = build_state(ckpt["config"].replace(**budgets), ctx.device, ctx)
    restore_state(state, ckpt)
    if ctx.main:
        print(resume_message(out, state, ckpt["config"], config))
    return state


def resume_message(out, state: TrainState, saved: Config, asked: Config) -> str:
    """'resuming at step N of M from out', and each setting of ``asked`` that differs from the saved one."""
    differ = [f"{k} {getattr(asked, k)!r} (kept: {getattr(saved, k)!r})" for k in saved.to_dict()
              if k not in BUDGET_FIELDS and getattr(asked, k) != getattr(saved, k)]
    plan = [f"{v} {k.replace('max_', '')}" for k, v in ((b, getattr(asked, b)) for b in BUDGET_FIELDS) if v is not None]
    text = f"resuming at step {state.step} from {out}" + (f" (budget: {', '.join(plan)})" if plan else "")
    if differ:
        text += "; the checkpoint's settings are used, not these asked for: " + ", ".join(differ)
    return text


def _loop(state: TrainState, data: ImageSet, total: int | None, bar, out, callback, callback_every: int,
          save_every_s: float, sitting_limit_s: float | None, stop: dict | None = None,
          pause_at: int | None = None) -> str:
    """Run training steps until a budget, the sitting's limit or a signal (``stop``) ends it; returns why.

    Every process follows process 0's clock and its signals, so all stop at the same step.
    """
    config, ctx, cache, stop = state.config, state.ctx, {}, {} if stop is None else stop
    start = last_save = time.monotonic()
    t0 = start - state.elapsed_s
    while True:
        state.elapsed_s, sitting_s, signum = from_main(
            [time.monotonic() - t0, time.monotonic() - start, float(stop.get("signum", 0))], ctx)
        if signum:
            stop["signum"] = int(signum)
            return f"stopped by {signal.Signals(int(signum)).name} after step {state.step}"
        if reason := _stop_reason(config, state, total, sitting_s, sitting_limit_s, pause_at):
            return reason
        frac = max(state.step / total if total else 0.0,
                   state.elapsed_s / (60 * config.max_minutes) if config.max_minutes else 0.0)
        x0, y = batch_at(data, config, state.step, cache, ctx.device, ctx)
        if state.text is not None:                   # the batch's captions, embedded by the frozen CLIP
            y = state.text(y, cache["idx"], state.generator)
        state.mid_step = True
        state.losses.append(train_step(state, x0, y, learning_rate(config, state.step, frac)))
        state.step += 1
        state.mid_step = False
        bar.update(1)
        if state.step % 25 == 0:
            bar.set_postfix(loss=f"{sum(state.losses[-25:]) / 25:.4f}")
        if callback is not None and state.step % callback_every == 0:
            callback(state)
        if out is not None and time.monotonic() - last_save > save_every_s:
            save_checkpoint(state.to_checkpoint(), out)
            last_save = time.monotonic()


def _attach_captions(state: TrainState, data: ImageSet) -> None:
    """Give a text run its frozen CLIP (the one a resumed run was trained with) and the data's captions."""
    from .text_condition import TrainingCaptions, attribute_codes, load_text_encoder
    encoder = load_text_encoder(state.config.clip, state.clip_sha256)
    state.clip_sha256 = encoder.sha256
    state.text = TrainingCaptions(encoder, attribute_codes(data.images, data.labels))


def _check_data(config: Config, data: ImageSet) -> None:
    """Clear errors when the data does not fit the model the config describes."""
    want = (config.channels, config.image_size, config.image_size)
    if data.name and data.name != config.dataset:
        raise ValueError(f"the data are {data.name} images but the config is for {config.dataset}; build it with "
                         f"config_for_dataset({data.name!r}) (on the command line: --dataset {data.name})")
    if tuple(data.images.shape[1:]) != want:
        raise ValueError(f"data images have shape {tuple(data.images.shape[1:])} but the config "
                         f"expects {want}; set channels/image_size to match the data set")
    if len(data) < config.batch_size:
        raise ValueError(f"data set has {len(data)} images, fewer than one batch of {config.batch_size}")
    if config.conditional and int(data.labels.max()) >= config.num_classes:
        raise ValueError(f"labels go up to {int(data.labels.max())} but num_classes is {config.num_classes}")
