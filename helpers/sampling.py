"""Generating images with a trained U-Net: labels, classifier-free guidance, whole trajectories.

Classifier-free guidance (Ho & Salimans 2022), in the convention of
TeaPearce/Conditional_Diffusion_MNIST:

    eps = eps_uncond + w * (eps_cond - eps_uncond)

so ``w = 0`` is the unconditional model, ``w = 1`` the plain conditional model
(no guidance), and ``w > 1`` pushes samples towards their label. The reverse
steps themselves (DDPM, DDIM, sampler specs such as ``"ddim:25"``) are in
:mod:`helpers.samplers`.

A text-conditioned model takes caption embeddings (n, 64) where a class model takes labels (n,);
``sample(..., prompts=[...])`` builds them with the model's frozen CLIP. Guidance is the same
code for both: only the "no condition" tensor differs (:func:`helpers.unet.null_condition`).
"""
from __future__ import annotations

from typing import Iterator

import torch

from .device import progress_bar
from .samplers import EpsModel, Sampler, parse_sampler, reverse_process
from .schedule import Diffusion
from .unet import UNet, null_condition


def guided_eps(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, w: float) -> torch.Tensor:
    """Classifier-free guidance: eps_uncond + w (eps_cond - eps_uncond), any matching shapes."""
    return eps_uncond + w * (eps_cond - eps_uncond)


def eps_model(model: UNet, labels: torch.Tensor | None = None, guidance: float | None = None) -> EpsModel:
    """Bind labels (B,) or caption embeddings (B, D), and guidance weight ``w``, into a callable ``(x_t, t) -> eps``.

    ``labels=None``: unconditional (the "no label" index for conditional models).
    ``guidance=None`` or 1 with labels: the plain conditional prediction; otherwise the
    conditional and unconditional predictions come from one doubled batch.
    """
    if labels is None:
        if guidance not in (None, 0, 1):
            raise ValueError(f"a guidance weight of {guidance:g} needs labels to guide towards; without labels the "
                             "samples are unconditional (pass labels, or leave guidance out)")
        return lambda x_t, t: model(x_t, t)
    if not _conditional(model):
        raise ValueError("labels were given but the model is unconditional (num_classes=None); "
                         "train a class-conditional model or sample without labels")
    if guidance is None or guidance == 1:
        return lambda x_t, t: model(x_t, t, labels)
    null = null_condition(model, labels)
    if guidance == 0:                                    # only the unconditional half is needed
        return lambda x_t, t: model(x_t, t, null)

    def guided(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([labels, null]))
        eps_cond, eps_uncond = eps.chunk(2)
        return guided_eps(eps_cond, eps_uncond, guidance)
    return guided


class Autoguided(torch.nn.Module):
    """A model guided by a weaker version of itself: autoguidance (Karras et al. 2024).

    eps = eps(x_t, t, y) + (weight - 1) (eps(x_t, t, y) - eps_guide(x_t, t, y)). The guide, a
    smaller or shorter-trained network of the same kind, makes the model's mistakes more often;
    stepping away from its prediction steps away from them. Needs no labels (y = None for an
    unconditional pair); weight = 1 is the model alone. With labels, ``guidance`` w also applies
    classifier-free guidance: eps = eps_uncond + w (eps - eps_uncond) + (weight - 1) (eps - eps_guide).
    x_t (B, C, H, W), t (B,) model timesteps, labels (B,) or None -> eps (B, C, H, W).
    Sample it as a UNet, without a guidance weight: ``sample(Autoguided(model, guide, 2), diffusion, n)``.
    """

    def __init__(self, model: UNet, guide: UNet, weight: float, guidance: float | None = None):
        super().__init__()
        if guide.num_classes != model.num_classes or guide.in_channels != model.in_channels \
                or guide.image_size != model.image_size:
            raise ValueError("the guide must take the model's inputs: got num_classes, channels, size "
                             f"{guide.num_classes, guide.in_channels, guide.image_size} for the guide and "
                             f"{model.num_classes, model.in_channels, model.image_size} for the model")
        if guidance not in (None, 1) and not _conditional(model):
            raise ValueError("classifier-free guidance needs a class-conditional model; this one is unconditional")
        self.model, self.guide, self.weight, self.guidance = model, guide, weight, guidance
        self.num_classes, self.in_channels, self.image_size = model.num_classes, model.in_channels, model.image_size
        self.conditional, self.text_encoder = _conditional(model), getattr(model, "text_encoder", None)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None or self.guidance in (None, 1):
            own = eps = self.model(x_t, t, labels)
        else:                                          # the labelled and "no label" halves in one batch
            null = null_condition(self, labels)
            own, uncond = self.model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([labels, null])).chunk(2)
            eps = guided_eps(own, uncond, self.guidance)
        if self.weight == 1:
            return eps
        return eps + (self.weight - 1) * (own - self.guide(x_t, t, labels))


def _steps(model: UNet, diffusion: Diffusion, n: int, labels: torch.Tensor | None, guidance: float | None,
           generator: torch.Generator | None, sampler: Sampler) -> Iterator[dict]:
    """Draw x_T ~ N(0, I) for n images with ``generator`` and run the reverse process on it."""
    device = next(model.parameters()).device
    labels = _check_labels(labels, n, device)
    x_T = torch.randn((n, model.in_channels, model.image_size, model.image_size), generator=generator,
                      device=device)
    return reverse_process(eps_model(model, labels, guidance), diffusion, x_T, sampler, generator)


def _conditional(model) -> bool:
    """True when ``model`` (a U-Net or a wrapper of one) takes a class label or a caption."""
    return bool(getattr(model, "conditional", getattr(model, "num_classes", None) is not None))


def prompt_condition(model, prompts: list[str], n: int) -> torch.Tensor:
    """Caption embeddings (n, D) of ``prompts`` (repeated in turn to fill n) from a text model's own
    frozen CLIP (``model.text_encoder``, set by :func:`helpers.io.load_model`); one clear ValueError
    for a class model, an empty prompt, an unknown word or a prompt naming no digit."""
    from .text_condition import prompt_embeddings
    encoder = getattr(model, "text_encoder", None)
    if encoder is None:
        raise ValueError("prompts need a text-conditioned model (condition 'text', loaded with helpers.io.load_model); "
                         "this one takes " + ("class labels" if _conditional(model) else "no condition"))
    return prompt_embeddings(encoder, prompts, n)


@torch.no_grad()
def sample(model: UNet, diffusion: Diffusion, n: int, labels: torch.Tensor | None = None,
           guidance: float | None = None, generator: torch.Generator | None = None,
           sampler: str | Sampler = "ddpm", batch_size: int | None = None,
           progress: bool = False, prompts: list[str] | None = None) -> torch.Tensor:
    """Sample ``n`` images from pure noise; returns (n, C, H, W) in [-1, 1] on the CPU.

    labels: (n,) LongTensor, (n, D) caption embeddings, or None (unconditional). prompts: captions
    for a text model (instead of labels), repeated in turn to fill n. sampler: a spec such as "ddpm" or
    "ddim:25" (:mod:`helpers.samplers`). ``batch_size`` bounds memory (None: one batch);
    one ``generator`` (on the model's device) runs through every batch, so the result
    is deterministic for a given generator seed and batch size.
    """
    if n < 1:
        raise ValueError(f"n must be a positive number of images, got {n}")
    if prompts is not None:
        if labels is not None:
            raise ValueError("give labels or prompts, not both")
        labels = prompt_condition(model, prompts, n)
    sampler = parse_sampler(sampler)
    batch_size = batch_size or n
    total = -(-n // batch_size) * sampler.chain(diffusion).T
    bar = progress_bar(total, "sampling", progress)
    chunks = []
    for lo in range(0, n, batch_size):
        part = None if labels is None else torch.as_tensor(labels)[lo:lo + batch_size]
        for out in _steps(model, diffusion, min(batch_size, n - lo), part, guidance, generator, sampler):
            bar.update(1)
        chunks.append(out["sample"].clamp(-1, 1).cpu())
    bar.close()
    return torch.cat(chunks)


@torch.no_grad()
def trajectory(model: UNet, diffusion: Diffusion, n: int, labels: torch.Tensor | None = None,
               guidance: float | None = None, generator: torch.Generator | None = None,
               every: int = 1, sampler: str | Sampler = "ddpm") -> dict[str, torch.Tensor]:
    """Sample like :func:`sample` (one batch) but keep every ``every``-th step, and both ends.

    Returns ``t`` (F,) the model timestep of each frame, ``step`` (F,) its index in the
    sampler's chain (equal to ``t`` for the full chain), ``x_t`` (F, n, C, H, W) the images
    after that step and ``x0`` (F, n, C, H, W) the model's estimate of the clean image at
    that step, all on the CPU. Frames run from the first step (pure noise in) to the last.
    """
    sampler = parse_sampler(sampler)
    last = sampler.chain(diffusion).T - 1
    t, steps, xs, x0s = [], [], [], []
    for out in _steps(model, diffusion, n, labels, guidance, generator, sampler):
        if out["step"] % every == 0 or out["step"] in (0, last):
            t.append(out["t"])
            steps.append(out["step"])
            xs.append(out["sample"].clamp(-1, 1).cpu())
            x0s.append(out["x0"].cpu())
    return {"t": torch.tensor(t), "step": torch.tensor(steps), "x_t": torch.stack(xs), "x0": torch.stack(x0s)}


def _check_labels(labels: torch.Tensor | None, n: int, device) -> torch.Tensor | None:
    if labels is None:
        return None
    if torch.is_tensor(labels) and labels.is_floating_point():      # caption embeddings (n, D)
        if labels.ndim != 2 or labels.shape[0] != n:
            raise ValueError(f"caption embeddings must have shape ({n}, D), one row per image, got {tuple(labels.shape)}")
        return labels.to(device)
    labels = torch.as_tensor(labels, dtype=torch.long, device=device)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), one per image, got {tuple(labels.shape)}")
    return labels


def parse_labels(spec: str | None, n: int, num_classes: int | None) -> torch.Tensor | None:
    """'0,1,7' (cycled to n), 'balanced' (0..K-1 repeated) or None -> LongTensor (n,) or None."""
    if spec is None:
        return None
    if num_classes is None:
        raise ValueError("--labels needs a class-conditional checkpoint; this one is unconditional")
    if spec == "balanced":
        return torch.arange(n) % num_classes
    try:
        values = [int(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"labels must be 'balanced' or comma-separated integers, got {spec!r}") from None
    if not values or min(values) < 0 or max(values) >= num_classes:
        raise ValueError(f"labels must be integers in 0..{num_classes - 1}, got {spec!r}")
    if len(values) > n:
        raise ValueError(f"{len(values)} labels were given for {n} images; give at most {n} "
                         "(fewer are repeated in turn to fill all of them)")
    return torch.tensor(values)[torch.arange(n) % len(values)]


def prior_labels(n: int, class_counts: torch.Tensor) -> torch.Tensor:
    """n labels in the proportions of ``class_counts`` (K,), e.g. the training set's class sizes.

    A conditional model asked for p(x | y) with y drawn from the data's class prior
    generates p(x), so these are the labels to use when samples are compared with a
    real set (FID): balanced labels would give every digit a 10% share that MNIST's mix
    does not have. Deterministic: each class gets its share rounded by largest remainder,
    and the classes take turns (0, 1, ..., K-1, 0, 1, ...) until each has its count.
    Returns a LongTensor (n,) of values in 0..K-1.
    """
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    if counts.ndim != 1 or len(counts) == 0 or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError("class_counts must be a 1-D tensor of non-negative counts with a positive sum, "
                         f"got {class_counts!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    exact = counts / counts.sum() * n
    share = exact.floor().long()
    share[torch.argsort(exact - share, descending=True, stable=True)[:n - int(share.sum())]] += 1
    rank = torch.cat([torch.arange(int(c)) for c in share])             # place of each label within its class
    labels = torch.repeat_interleave(torch.arange(len(counts)), share)
    return labels[torch.argsort(rank * len(counts) + labels)]
