"""Restoring images with a trained model and no retraining: inpainting, SDEdit and denoising.

The model has learned what digits look like; to restore one we run the reverse process
and, at every step, keep it consistent with what we know of the image:

- **Inpainting** fills the pixels a ``mask`` hides (mask 1 = known, 0 = missing; shape
  (B or 1, 1, H, W)). *RePaint* (Lugmayr et al. 2022) replaces the known pixels of x_{t-1}
  by the input noised to the same level, q(x_{t-1} | x0 = known); with ``jump`` > 0 it
  also goes back up the chain ``jump`` steps, ``resample`` - 1 times at every ``jump``-th
  step, so the generated part can adjust to the known part. *DDNM* (Wang et al. 2023)
  instead replaces the known pixels of the model's clean estimate x0 exactly, then steps
  from it. Both end with the known pixels equal to the input.
- **SDEdit** (Meng et al. 2022) noises a rough image part of the way up the chain,
  a fraction ``t0`` of it, and runs the reverse process back down: small ``t0`` keeps
  the input, large ``t0`` keeps only its outline and makes a realistic digit.
- **Denoising**: an image with Gaussian noise of standard deviation sigma is, scaled by
  sqrt(alpha_bar_t), an x_t of the chain at the timestep whose noise level matches.

Timestep convention as in :mod:`helpers.schedule`; images in [-1, 1]. Steps run over a
sampler's chain (a spec such as ``"ddpm:50"``, :mod:`helpers.samplers`).
"""
from __future__ import annotations

import torch

from .samplers import STEPS, EpsModel, Sampler, denoise, parse_sampler, reverse_process
from .schedule import Diffusion

MASKS = ("bottom_half", "right_half", "centre_square", "random_80", "random_95")
INPAINT_SAMPLERS = ("ddpm", "ddim")   # one network call per step, no history: what RePaint and DDNM step with


def make_mask(kind: str, n: int = 1, size: int = 28, generator: torch.Generator | None = None) -> torch.Tensor:
    """Masks (n, 1, size, size), float 1 = known pixel, 0 = missing, for ``kind`` in :data:`MASKS`.

    bottom_half / right_half hide that half; centre_square hides the middle size/2 x size/2
    square; random_80 / random_95 hide each pixel with probability 0.8 / 0.95 (a new draw per image).
    """
    mask = torch.ones(n, 1, size, size)
    half, quarter = size // 2, size // 4
    if kind == "bottom_half":
        mask[..., half:, :] = 0
    elif kind == "right_half":
        mask[..., :, half:] = 0
    elif kind == "centre_square":
        mask[..., quarter:quarter + half, quarter:quarter + half] = 0
    elif kind in ("random_80", "random_95"):
        missing = int(kind[-2:]) / 100
        mask = (torch.rand(n, 1, size, size, generator=generator) >= missing).float()
    else:
        raise ValueError(f"unknown mask {kind!r}; expected one of {list(MASKS)}")
    return mask


def _check_masked(known: torch.Tensor, mask: torch.Tensor) -> None:
    if known.ndim != 4 or mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[2:] != known.shape[2:] \
            or mask.shape[0] not in (1, known.shape[0]):
        raise ValueError(f"known must be (B, C, H, W) and mask (B or 1, 1, H, W) of the same H and W; "
                         f"got {tuple(known.shape)} and {tuple(mask.shape)}")


def repaint_path(T: int, jump: int = 0, resample: int = 1) -> list[int]:
    """The chain positions RePaint visits: from T-1 (pure noise) down to -1 (the clean image).

    A step down from position p is the reverse step with index p; a step up, p -> p + 1,
    adds one step of forward noise. With ``jump`` > 0 and ``resample`` > 1 the walk goes
    back up ``jump`` positions ``resample`` - 1 times at every ``jump``-th position
    (the schedule of RePaint's reference code).
    """
    if jump < 0 or resample < 1:
        raise ValueError(f"jump must be >= 0 and resample >= 1, got jump={jump}, resample={resample}")
    jumps = {j: resample - 1 for j in range(0, T - jump, jump)} if jump and resample > 1 else {}
    t, path = T, []
    while t >= 1:
        t -= 1
        path.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] -= 1
            for _ in range(jump):
                t += 1
                path.append(t)
    return path + [-1]


def _renoise(chain: Diffusion, x: torch.Tensor, p: int, generator: torch.Generator | None) -> torch.Tensor:
    """One forward step from position p - 1 to p: sqrt(1 - beta_p) x + sqrt(beta_p) z."""
    beta = chain.betas[p].to(x.device)
    return (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(x.shape, generator=generator, device=x.device)


def _noised(chain: Diffusion, known: torch.Tensor, p: int, generator: torch.Generator | None) -> torch.Tensor:
    """The known image at position p: a draw of q(x_p | x0 = known), or ``known`` itself at p = -1."""
    if p < 0:
        return known
    t = torch.full((known.shape[0],), p, device=known.device, dtype=torch.long)
    return chain.q_sample(known, t, torch.randn(known.shape, generator=generator, device=known.device))


@torch.no_grad()
def inpaint(eps_model: EpsModel, diffusion: Diffusion, known: torch.Tensor, mask: torch.Tensor,
            method: str = "repaint", sampler: str | Sampler = "ddpm:50", jump: int = 0, resample: int = 1,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill the missing pixels of ``known`` (B, C, H, W) in [-1, 1]; ``mask`` (B or 1, 1, H, W), 1 = known.

    method: "repaint" (replace x_{t-1}'s known pixels by the noised input) or "ddnm"
    (replace the clean estimate x0's known pixels by the input). jump, resample: RePaint's
    resampling (see :func:`repaint_path`; used by either method). Returns (B, C, H, W)
    whose known pixels equal ``known`` exactly.
    """
    _check_masked(known, mask)
    if method not in ("repaint", "ddnm"):
        raise ValueError(f"unknown inpainting method {method!r}; expected 'repaint' or 'ddnm'")
    sampler = parse_sampler(sampler)
    if sampler.name not in INPAINT_SAMPLERS:
        raise ValueError(f"inpainting steps through the chain one network call at a time, with "
                         f"{' or '.join(INPAINT_SAMPLERS)}; {sampler} cannot be used (e.g. ddpm:50 or ddim:50)")
    chain, step = sampler.chain(diffusion), STEPS[sampler.name]
    mask = mask.to(known.device)
    x = torch.randn(known.shape, generator=generator, device=known.device)
    path = repaint_path(chain.T, jump, resample)
    for p, q in zip(path, path[1:]):
        if q > p:                                            # back up the chain one step
            x = _renoise(chain, x, q, generator)
            continue
        _, x0 = denoise(eps_model, chain, x, p)
        if method == "ddnm":
            x0 = mask * known + (1 - mask) * x0
        x = step(chain, p, x, x0, generator, sampler.eta)
        if method == "repaint":
            x = mask * _noised(chain, known, q, generator) + (1 - mask) * x
    return (mask * known + (1 - mask) * x).clamp(-1, 1)


def _reverse_from(eps_model: EpsModel, diffusion: Diffusion, x_t: torch.Tensor, k: int,
                  sampler: Sampler, generator: torch.Generator | None) -> torch.Tensor:
    """Run the reverse process from x_t at timestep index k - 1 (k >= 1) down to a clean image.

    The chain is ``diffusion``'s first k timesteps, walked in the sampler's share of its
    steps (``sampler.steps`` * k / T, at least 2; every step when the sampler has no count).
    """
    if k == 1:                                           # one step: the clean estimate itself
        return denoise(eps_model, diffusion, x_t, 0)[1]
    part = diffusion.subset(torch.arange(k))
    steps = None if sampler.steps is None else min(k, max(2, round(sampler.steps * k / diffusion.T)))
    *_, last = reverse_process(eps_model, part, x_t, Sampler(sampler.name, steps, sampler.eta), generator)
    return last["sample"]


@torch.no_grad()
def sdedit(eps_model: EpsModel, diffusion: Diffusion, x: torch.Tensor, t0: float,
           sampler: str | Sampler = "ddpm:50", generator: torch.Generator | None = None) -> torch.Tensor:
    """SDEdit: noise ``x`` (B, C, H, W) in [-1, 1] through a fraction ``t0`` in [0, 1] of the chain, then denoise.

    t0 = 0 returns ``x`` unchanged; t0 = 1 starts from (almost) pure noise. The sampler's
    steps are shared out in proportion (``ddpm:50`` at t0 = 0.4 walks 20 steps). Returns (B, C, H, W).
    """
    if not 0 <= t0 <= 1:
        raise ValueError(f"t0 is a fraction of the chain, in [0, 1]; got {t0}")
    k = round(t0 * diffusion.T)                              # forward steps applied
    if k == 0:
        return x.clone()
    x_t = _noised(diffusion, x, k - 1, generator)
    return _reverse_from(eps_model, diffusion, x_t, k, parse_sampler(sampler), generator).clamp(-1, 1)


def matched_timestep(diffusion: Diffusion, sigma: float) -> int:
    """The timestep index whose noise-to-signal ratio sqrt(1 - alpha_bar) / sqrt(alpha_bar) is nearest ``sigma``."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    ratio = ((1 - diffusion.alpha_bar) / diffusion.alpha_bar).sqrt()
    return int((ratio - sigma).abs().argmin())


@torch.no_grad()
def remove_noise(eps_model: EpsModel, diffusion: Diffusion, noisy: torch.Tensor, sigma: float,
                 sampler: str | Sampler | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Denoise the observation ``noisy`` = x + sigma * z, (B, C, H, W), by treating sqrt(alpha_bar_t) * noisy as
    x_t at the matched timestep. Returns (B, C, H, W).

    sampler None: the model's one-step clean estimate (the blurriest, best in mean squared
    error); a spec such as "ddpm:50": the reverse process from there (sharper, a sample).
    """
    t = matched_timestep(diffusion, sigma)
    x_t = diffusion.alpha_bar[t].sqrt().to(noisy.device) * noisy
    if sampler is None:
        return denoise(eps_model, diffusion, x_t, t)[1]
    return _reverse_from(eps_model, diffusion, x_t, t + 1, parse_sampler(sampler), generator).clamp(-1, 1)


def mean_fill(known: torch.Tensor, mask: torch.Tensor, mean_image: torch.Tensor) -> torch.Tensor:
    """Baseline: missing pixels from ``mean_image`` (C, H, W), e.g. the training set's mean digit."""
    _check_masked(known, mask)
    return mask * known + (1 - mask) * mean_image.to(known.device)


def nearest_fill(known: torch.Tensor, mask: torch.Tensor, pool: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Baseline: missing pixels from the image of ``pool`` (N, C, H, W) nearest on the known pixels.

    Distance: sum over known pixels of (known - pool_i)^2, for each image of ``known`` (B, C, H, W).
    """
    _check_masked(known, mask)
    m = mask.expand(known.shape[0], *known.shape[1:]).flatten(1)
    flat, pool_flat = known.flatten(1), pool.flatten(1)
    picks = []
    for lo in range(0, len(flat), batch):
        mb, xb = m[lo:lo + batch], flat[lo:lo + batch]
        d = (mb * xb ** 2).sum(1, keepdim=True) - 2 * (mb * xb) @ pool_flat.T + mb @ (pool_flat ** 2).T
        picks.append(d.argmin(1))
    return mask * known + (1 - mask) * pool[torch.cat(picks)]
