"""Training the small CLIP (:mod:`helpers.clip_small`) on MNIST digits and captions of their measured shape.

Each step draws a batch of training digits in a shuffled order fixed by (seed, epoch)
(:func:`helpers.data.epoch_order`), writes one caption for each (:mod:`helpers.captions`) with a
generator seeded by (seed, step), and takes one AdamW step on the symmetric contrastive loss.
Because the batch and its captions are pure functions of the seed and the step, a run
resumed from its checkpoint continues exactly as if it had never stopped.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field

import torch

from .captions import Bins, assign_bins, captions, fit_bins
from .clip_small import ClipConfig, SmallClip, contrastive_loss
from .data import ImageSet, epoch_order
from .device import make_generator, progress_bar
from .io import CheckpointError, append_jsonl, read_torch_file, save_checkpoint
from .morphometry import DigitAttributes
from .tokenizer import encode_batch

KIND = "clip_small"


@dataclass
class ClipTrainConfig:
    """How to train: steps, batch, optimiser (cosine learning rate after a linear warm-up), seed."""

    steps: int = 1000
    batch_size: int = 256
    lr: float = 2e-3
    warmup_steps: int = 50
    weight_decay: float = 0.05
    p_attribute: float = 0.5          # chance that a caption mentions each attribute it has a word for
    seed: int = 0
    model: ClipConfig = field(default_factory=ClipConfig)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ClipState:
    """A run in progress: the model, its optimiser, the step reached and the seconds spent."""

    config: ClipTrainConfig
    model: SmallClip
    optimizer: torch.optim.Optimizer
    step: int = 0
    elapsed_s: float = 0.0
    cpu_s: float = 0.0                # processor time of this process, all threads together

    def to_checkpoint(self) -> dict:
        """What :func:`save_checkpoint` writes: everything needed to resume or to load the model."""
        return {"kind": KIND, "config": self.config.to_dict(), "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "step": self.step, "elapsed_s": self.elapsed_s,
                "cpu_s": self.cpu_s}


def new_state(config: ClipTrainConfig) -> ClipState:
    """A freshly initialised model (weights seeded by ``config.seed``) and its AdamW optimiser."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = SmallClip(config.model)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    rest = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=config.lr)
    return ClipState(config, model, opt)


def config_from_dict(d: dict) -> ClipTrainConfig:
    """The inverse of ``ClipTrainConfig.to_dict`` (lists back to tuples)."""
    model = {k: tuple(v) if isinstance(v, list) else v for k, v in d["model"].items()}
    return ClipTrainConfig(**{**d, "model": ClipConfig(**model)})


def learning_rate(config: ClipTrainConfig, step: int) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps``, then a cosine decay to zero at ``steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def batch(data: ImageSet, codes: torch.Tensor, config: ClipTrainConfig, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (B, 1, 28, 28) and caption tokens (B, L) of training step ``step``: a pure function of it."""
    per_epoch = len(data) // config.batch_size
    epoch, i = divmod(step, per_epoch)
    idx = epoch_order(len(data), config.seed, epoch)[i * config.batch_size:(i + 1) * config.batch_size]
    texts = captions(data.labels[idx], codes[idx], make_generator(config.seed * 1_000_003 + step),
                     p_attribute=config.p_attribute)
    return data.images[idx], encode_batch(texts)


def train_step(state: ClipState, images: torch.Tensor, tokens: torch.Tensor) -> float:
    """One AdamW step on the contrastive loss of a batch; returns the loss."""
    for group in state.optimizer.param_groups:
        group["lr"] = learning_rate(state.config, state.step)
    loss = contrastive_loss(state.model(images, tokens))
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    state.optimizer.step()
    state.step += 1
    return float(loss.detach())


def _start(config: ClipTrainConfig, out, resume: bool) -> ClipState:
    """A new state, or the one saved in ``out`` when resuming (its settings, this call's step budget)."""
    if out is not None and os.path.exists(out) and not resume:
        raise CheckpointError(f"{out} already exists: resume it (--resume) or write to another path")
    if not resume or out is None or not os.path.exists(out):
        return new_state(config)
    ckpt = read_torch_file(out)
    state = new_state(config_from_dict({**ckpt["config"], "steps": config.steps}))
    state.model.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.step, state.elapsed_s, state.cpu_s = ckpt["step"], ckpt["elapsed_s"], ckpt.get("cpu_s", 0.0)
    return state


def train_clip(config: ClipTrainConfig, data: ImageSet, attributes: DigitAttributes, out=None,
               log=None, resume: bool = False, save_every: int = 100, bins: Bins | None = None,
               pause_at: int | None = None) -> ClipState:
    """Train on ``data`` (the training digits) whose measurements are ``attributes`` (same order).

    out: checkpoint path, written atomically every ``save_every`` steps and at the end;
    log: a .jsonl file that gets one line (step, loss, scale, seconds) every ``save_every`` steps.
    pause_at: stop after this step (saving ``out``) with the schedule still planned for ``config.steps``:
    ``resume=True`` later continues exactly.
    """
    if len(attributes.labels) != len(data) or not torch.equal(attributes.labels, data.labels):
        raise ValueError(f"attributes ({len(attributes.labels)} digits) do not match the data ({len(data)} digits, "
                         f"{data.source}): pass the training split of the full MNIST and its attributes")
    state = _start(config, out, resume)
    codes = assign_bins(attributes, bins or fit_bins(attributes))
    bar, losses, t0 = progress_bar(state.config.steps, "training CLIP", initial=state.step), [], time.monotonic()
    base, cpu_base, cpu0 = state.elapsed_s, state.cpu_s, time.process_time()
    end = state.config.steps if pause_at is None else min(pause_at, state.config.steps)
    while state.step < end:
        losses.append(train_step(state, *batch(data, codes, state.config, state.step)))
        state.elapsed_s, state.cpu_s = base + time.monotonic() - t0, cpu_base + time.process_time() - cpu0
        bar.update(1)
        if state.step % save_every == 0 or state.step == end:
            record = {"step": state.step, "loss": sum(losses) / len(losses),
                      "logit_scale": float(state.model.logit_scale().detach()), "elapsed_s": round(state.elapsed_s, 1),
                      "cpu_s": round(state.cpu_s, 1)}
            bar.set_postfix(loss=f"{record['loss']:.3f}")
            losses = []
            if log is not None:
                append_jsonl(record, log)
            if out is not None:
                save_checkpoint(state.to_checkpoint(), out)
    bar.close()
    return state


def load_small_clip(path, device: str | torch.device = "cpu") -> SmallClip:
    """The trained model saved in ``path`` (a checkpoint of :func:`train_clip`), in eval mode."""
    ckpt = read_torch_file(path, "small-CLIP checkpoint", map_location=device)
    if ckpt.get("kind") != KIND:
        raise CheckpointError(f"{path} is not a small-CLIP checkpoint (kind {ckpt.get('kind')!r}, expected {KIND!r})")
    model = SmallClip(config_from_dict(ckpt["config"]).model)
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval()
