"""Generating images: DDPM ancestral or DDIM sampling, with optional labels and guidance.

Samplers: ``"ddpm"`` (Ho et al. 2020, ancestral) and ``"ddim"`` (Song et al.
2021, with ``eta``: 0 deterministic, 1 DDPM-like). Either runs over a
respaced chain (``diffusion.respaced(S)``) for S < T steps.

Classifier-free guidance convention (Ho & Salimans 2022, written as in
TeaPearce/Conditional_Diffusion_MNIST):

    eps = eps_uncond + w * (eps_cond - eps_uncond)

so ``w = 0`` is the unconditional model, ``w = 1`` the plain conditional model
(no guidance), and ``w > 1`` pushes samples towards their label.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch
import torchvision
from tqdm.auto import tqdm

from .schedule import Diffusion
from .unet import UNet


def guided_eps(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, w: float) -> torch.Tensor:
    """Classifier-free guidance: eps_uncond + w (eps_cond - eps_uncond), any matching shapes."""
    return eps_uncond + w * (eps_cond - eps_uncond)


def eps_model(model: UNet, labels: torch.Tensor | None = None,
              guidance: float | None = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Bind labels (B,) and guidance weight ``w`` into a callable ``(x_t, t) -> eps``.

    ``labels=None``: unconditional (the "no label" index for conditional models).
    ``guidance=None`` or 1 with labels: plain conditional prediction; otherwise the
    conditional and unconditional predictions come from one doubled batch.
    """
    if labels is None:
        return lambda x_t, t: model(x_t, t)
    if model.num_classes is None:
        raise ValueError("labels were given but the model is unconditional (num_classes=None); "
                         "train with --conditional or sample without labels")
    if guidance is None or guidance == 1:
        return lambda x_t, t: model(x_t, t, labels)
    null = torch.full_like(labels, model.num_classes)
    if guidance == 0:                                    # only the unconditional half is needed
        return lambda x_t, t: model(x_t, t, null)

    def guided(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([labels, null]))
        eps_cond, eps_uncond = eps.chunk(2)
        return guided_eps(eps_cond, eps_uncond, guidance)
    return guided


def _image_shape(model: UNet, n: int) -> tuple[int, int, int, int]:
    return (n, model.in_channels, model.image_size, model.image_size)


@torch.no_grad()
def sample(model: UNet, diffusion: Diffusion, n: int, labels: torch.Tensor | None = None,
           guidance: float | None = None, generator: torch.Generator | None = None,
           progress: bool = False, sampler: str = "ddpm", eta: float = 0.0) -> torch.Tensor:
    """Sample ``n`` images from pure noise over every step of ``diffusion``, T-1 down to 0.

    labels: (n,) LongTensor or None. sampler: "ddpm" or "ddim" (with ``eta``).
    Returns (n, C, H, W) in [-1, 1], on the model's device. Deterministic for
    a given ``generator`` (which must live on the model's device).
    """
    device = next(model.parameters()).device
    labels = _check_labels(labels, n, device)
    steps = diffusion.p_sample_loop_progressive(eps_model(model, labels, guidance),
                                                _image_shape(model, n), generator, device,
                                                sampler=sampler, eta=eta)
    for out in tqdm(steps, total=diffusion.T, disable=not progress, desc="sampling", unit="step"):
        pass
    return out["sample"].clamp(-1, 1)


def sample_many(model: UNet, diffusion: Diffusion, n: int, labels: torch.Tensor | None = None,
                guidance: float | None = None, generator: torch.Generator | None = None,
                batch_size: int = 500, sampler: str = "ddpm", eta: float = 0.0,
                progress: bool = False) -> torch.Tensor:
    """:func:`sample` in batches of ``batch_size`` (bounded memory); returns (n, C, H, W) on the CPU.

    labels: (n,) or None. One generator runs through all batches, so the result
    depends on ``batch_size``.
    """
    device = next(model.parameters()).device
    chunks = []
    for lo in tqdm(range(0, n, batch_size), disable=not progress, desc="batches", unit="batch"):
        part = None if labels is None else torch.as_tensor(labels)[lo:lo + batch_size].to(device)
        chunks.append(sample(model, diffusion, min(batch_size, n - lo), part, guidance, generator,
                             sampler=sampler, eta=eta).cpu())
    return torch.cat(chunks)


@torch.no_grad()
def trajectory(model: UNet, diffusion: Diffusion, n: int, labels: torch.Tensor | None = None,
               guidance: float | None = None, generator: torch.Generator | None = None,
               every: int = 1, sampler: str = "ddpm", eta: float = 0.0) -> dict[str, torch.Tensor]:
    """Sample like :func:`sample` but keep every ``every``-th step (and the last).

    Returns ``t`` (F,) the model timestep of each frame (for a respaced chain,
    ``diffusion.timestep_map`` of the step), ``step`` (F,) the step index in
    ``diffusion`` (equal to ``t`` for the full chain), ``x_t`` (F, n, C, H, W)
    the noisy images after that step and ``x0`` (F, n, C, H, W) the model's
    estimate of the clean image at that step. Frames run from the first step
    (pure noise in, index T-1) to the last (index 0); both ends are always kept.
    """
    device = next(model.parameters()).device
    labels = _check_labels(labels, n, device)
    steps, xs, x0s = [], [], []
    for out in diffusion.p_sample_loop_progressive(eps_model(model, labels, guidance),
                                                   _image_shape(model, n), generator, device,
                                                   sampler=sampler, eta=eta):
        if out["t"] % every == 0 or out["t"] in (0, diffusion.T - 1):
            steps.append(out["t"])
            xs.append(out["sample"].clamp(-1, 1).cpu())
            x0s.append(out["x0"].cpu())
    steps = torch.tensor(steps)
    return {"t": diffusion.timestep_map[steps], "step": steps, "x_t": torch.stack(xs), "x0": torch.stack(x0s)}


def _check_labels(labels: torch.Tensor | None, n: int, device) -> torch.Tensor | None:
    if labels is None:
        return None
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
    return torch.tensor(values)[torch.arange(n) % len(values)]


def prior_labels(n: int, class_counts: torch.Tensor) -> torch.Tensor:
    """n labels in the proportions of ``class_counts`` (K,), e.g. the training set's class sizes.

    A conditional model asked for ``p(x | y)`` with y drawn from the data's class prior
    generates ``p(x)``, so these are the labels to use when samples are compared with a
    real set (FID): balanced labels give MNIST's mix a 10% share of every digit it does
    not have. Deterministic: each class gets its share rounded by largest remainder, and
    the classes take turns (0, 1, ..., K-1, 0, 1, ...) until each has its count.
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
    remainder = exact - share
    share[torch.argsort(remainder, descending=True, stable=True)[:n - int(share.sum())]] += 1
    rank = torch.cat([torch.arange(int(c)) for c in share])             # place of each label within its class
    labels = torch.repeat_interleave(torch.arange(len(counts)), share)
    return labels[torch.argsort(rank * len(counts) + labels)]


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 0..255, same shape, on the CPU."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


def save_samples(images: torch.Tensor, labels: torch.Tensor | None, path: str | os.PathLike,
                 meta: dict | None = None) -> Path:
    """Write ``{'images': uint8 (N, C, H, W), 'labels': (N,) or None, 'meta'}`` and a PNG grid.

    The PNG goes beside ``path`` with the suffix ``.png``. Returns the .pt path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images8 = to_uint8(images)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"images": images8, "labels": None if labels is None else labels.cpu(),
                "meta": meta or {}}, tmp)
    os.replace(tmp, path)
    nrow = 10 if len(images8) >= 10 else len(images8)
    torchvision.utils.save_image(images8.float() / 255, path.with_suffix(".png"), nrow=nrow, padding=2)
    return path
