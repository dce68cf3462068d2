"""The noise schedule and the forward and reverse diffusion processes.

Timestep convention (used everywhere in this package): integer ``t`` in
``0..T-1``. Index ``t`` is the paper's step ``t+1``: ``x_t`` is the image after
``t+1`` noising steps, so ``alpha_bar[0] = 1 - beta[0]`` and ``x_{T-1}`` is the
noisiest image. Images live in [-1, 1].

:class:`Diffusion` holds the schedule as tensors. It never owns the model:
every method that needs a noise prediction takes ``model``, any callable
``model(x_t, t) -> eps`` with ``x_t`` of shape (B, C, H, W) and ``t`` a
LongTensor of shape (B,). Labels and guidance are bound into that callable by
:mod:`helpers.sampling`.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

import torch

EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_betas(kind: str, T: int) -> torch.Tensor:
    """Betas, shape (T,), float64, for schedule ``kind``.

    - ``linear``: 1e-4 to 0.02 over T steps, exactly as the seed report (and
      Ho et al. 2020, who used T = 1000).
    - ``scaled_linear``: both end points scaled by 1000/T (Nichol & Dhariwal
      2021), so a short chain still ends in (almost) pure noise. Not the
      diffusers schedule of the same name.
    - ``cosine``: alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2), s = 0.008,
      betas clipped at 0.999 (Nichol & Dhariwal 2021, eq. 17).
    """
    if kind == "linear":
        return torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    if kind == "scaled_linear":
        if T <= 20:
            raise ValueError(f"scaled_linear needs T > 20 (its last beta, 20/T, must stay below 1); "
                             f"got T={T}: use 'linear' or 'cosine' for very short chains")
        scale = 1000.0 / T
        return torch.linspace(scale * 1e-4, scale * 0.02, T, dtype=torch.float64)
    if kind == "cosine":
        s = 0.008
        steps = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        alpha_bar = f / f[0]
        return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
    raise ValueError(f"unknown schedule {kind!r}; expected 'linear', 'scaled_linear' or 'cosine'")


def extract(values: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    """Gather ``values[t]`` and reshape to (B, 1, ..., 1) to broadcast over an image batch.

    values: (T,) schedule tensor; t: (B,) LongTensor; returns (B,) + (1,) * (ndim - 1).
    """
    out = values.to(t.device)[t]
    return out.reshape(t.shape[0], *([1] * (ndim - 1)))


class Diffusion:
    """A Gaussian diffusion with ``T`` steps and the given beta schedule.

    Attributes (all shape (T,), float32): ``betas``, ``alphas``, ``alpha_bar``,
    ``alpha_bar_prev`` (alpha_bar at t-1, with 1 before the first step),
    ``posterior_variance`` (beta tilde).
    """

    def __init__(self, T: int = 300, schedule: str = "linear", betas: torch.Tensor | None = None,
                 timestep_map: torch.Tensor | None = None):
        if T < 2:
            raise ValueError(f"T must be at least 2, got {T}")
        self.T, self.schedule = T, schedule
        betas = make_betas(schedule, T) if betas is None else betas.double()   # float64 products
        # model timestep of each step: identity, except in a respaced chain (see respaced())
        self.timestep_map = torch.arange(T) if timestep_map is None else timestep_map
        alphas = 1.0 - betas
        alpha_bar = torch.cumprod(alphas, dim=0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        self.betas = betas.float()
        self.alphas = alphas.float()
        self.alpha_bar = alpha_bar.float()
        self.alpha_bar_prev = alpha_bar_prev.float()
        # beta tilde_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)   (Ho et al. eq. 7)
        self.posterior_variance = (betas * (1 - alpha_bar_prev) / (1 - alpha_bar)).float()
        # mean coefficients: mu = c0 * x0 + ct * x_t                         (Ho et al. eq. 7)
        self.posterior_coef_x0 = (betas * alpha_bar_prev.sqrt() / (1 - alpha_bar)).float()
        self.posterior_coef_xt = ((1 - alpha_bar_prev) * alphas.sqrt() / (1 - alpha_bar)).float()

    def __repr__(self) -> str:
        return f"Diffusion(T={self.T}, schedule={self.schedule!r})"

    def respaced(self, steps: int) -> "Diffusion":
        """A shorter chain over ``steps`` evenly spaced timesteps of this one (Nichol & Dhariwal 2021).

        Keeps alpha_bar at the chosen timesteps and recomputes betas between them:
        beta_i = 1 - alpha_bar[s_i] / alpha_bar[s_{i-1}]. The model still sees the
        original timesteps (``timestep_map``), so a model trained on T steps samples
        in ``steps`` steps unchanged. ``steps == T`` returns this chain.
        """
        if not 1 < steps <= self.T:
            raise ValueError(f"steps must be between 2 and T={self.T}, got {steps}")
        if steps == self.T:
            return self
        keep = torch.linspace(0, self.T - 1, steps).round().long()
        ab = self.alpha_bar.double()[keep]
        betas = 1 - ab / torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
        return Diffusion(steps, self.schedule, betas=betas, timestep_map=self.timestep_map[keep])

    # ----------------------------------------------------------------- summaries
    def signal_at_end(self) -> float:
        """sqrt(alpha_bar) at t = T-1: how much of x0 survives in the noisiest x_t.

        0 means pure noise. The seed's T=300 linear schedule leaves about 0.2.
        """
        return float(self.alpha_bar[-1].sqrt())

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar / (1 - alpha_bar), shape (T,)."""
        return self.alpha_bar / (1 - self.alpha_bar)

    # ----------------------------------------------------------------- forward process
    def sample_timesteps(self, n: int, generator: torch.Generator | None = None,
                         device: torch.device | str = "cpu") -> torch.Tensor:
        """Uniform random timesteps, LongTensor (n,) in 0..T-1."""
        return torch.randint(0, self.T, (n,), generator=generator, device=device)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Draw x_t ~ q(x_t | x0) = N(sqrt(alpha_bar_t) x0, (1 - alpha_bar_t) I).

        x0, noise: (B, C, H, W); t: (B,) in 0..T-1; returns (B, C, H, W).
        """
        ab = extract(self.alpha_bar, t, x0.ndim)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def q_posterior(self, x0: torch.Tensor, x_t: torch.Tensor,
                    t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (B, C, H, W) and variance (B, 1, 1, 1) of q(x_{t-1} | x_t, x0)."""
        mean = (extract(self.posterior_coef_x0, t, x_t.ndim) * x0
                + extract(self.posterior_coef_xt, t, x_t.ndim) * x_t)
        return mean, extract(self.posterior_variance, t, x_t.ndim)

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Invert q_sample: x0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
        ab = extract(self.alpha_bar, t, x_t.ndim)
        return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()

    # ----------------------------------------------------------------- training objective
    def loss(self, model: EpsModel, x0: torch.Tensor, generator: torch.Generator | None = None,
             min_snr_gamma: float | None = None) -> torch.Tensor:
        """Simple DDPM loss: MSE between true and predicted noise at a random t per image.

        x0: (B, C, H, W) in [-1, 1]; returns a scalar. Predicting eps = 0 scores 1.0.
        ``min_snr_gamma``: weight each image's MSE by min(SNR_t, gamma) / SNR_t (the min-SNR
        strategy of Hang et al. 2023, written for eps-prediction), which down-weights the
        low-noise steps whose eps is hard to predict and matters little; None: plain mean.
        """
        t = self.sample_timesteps(x0.shape[0], generator, x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        x_t = self.q_sample(x0, t, noise)
        per_image = (model(x_t, t) - noise).square().flatten(1).mean(1)
        if min_snr_gamma is None:
            return per_image.mean()
        snr = self.snr().to(x0.device)[t]
        return (per_image * snr.clamp(max=min_snr_gamma) / snr).mean()

    # ----------------------------------------------------------------- reverse process
    def p_mean_variance(self, model: EpsModel, x_t: torch.Tensor, t: torch.Tensor,
                        clip_x0: bool = True) -> dict[str, torch.Tensor]:
        """Model's reverse distribution p(x_{t-1} | x_t) and its x0 estimate.

        Returns dict with ``mean`` (B, C, H, W), ``variance`` (B, 1, 1, 1),
        ``x0`` (B, C, H, W, clipped to [-1, 1] when ``clip_x0``) and ``eps``.
        """
        eps = model(x_t, self.timestep_map.to(t.device)[t])
        x0 = self.predict_x0(x_t, t, eps)
        if clip_x0:
            x0 = x0.clamp(-1, 1)
        mean, variance = self.q_posterior(x0, x_t, t)
        return {"mean": mean, "variance": variance, "x0": x0, "eps": eps}

    def p_sample(self, model: EpsModel, x_t: torch.Tensor, t: int,
                 generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """One reverse step x_t -> x_{t-1} (no noise is added at t = 0).

        t: a Python int shared by the whole batch. Returns the dict of
        :meth:`p_mean_variance` plus ``sample``, the new image (B, C, H, W).
        """
        tt = torch.full((x_t.shape[0],), t, device=x_t.device, dtype=torch.long)
        out = self.p_mean_variance(model, x_t, tt)
        if t > 0:
            noise = torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
            out["sample"] = out["mean"] + out["variance"].sqrt() * noise
        else:
            out["sample"] = out["mean"]
        return out

    def ddim_step(self, model: EpsModel, x_t: torch.Tensor, t: int, eta: float = 0.0,
                  generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """One DDIM step x_t -> x_{t-1} of this chain (Song et al. 2021, eq. 12).

        t: a Python int (step index of this chain, shared by the batch). With
        a = alpha_bar[t] and a' = alpha_bar_prev[t]:

            x0    = clip((x_t - sqrt(1 - a) eps) / sqrt(a))
            eps'  = (x_t - sqrt(a) x0) / sqrt(1 - a)          (consistent with the clipped x0)
            sigma = eta * sqrt((1 - a') / (1 - a) * (1 - a / a'))
            x_{t-1} = sqrt(a') x0 + sqrt(1 - a' - sigma^2) eps' + sigma z

        ``eta = 0`` is deterministic; ``eta = 1`` makes sigma^2 the posterior
        variance, so the step is exactly :meth:`p_sample`. Returns the same dict
        keys as :meth:`p_sample` (``sample``, ``x0``, ``eps``).
        """
        if eta < 0:
            raise ValueError(f"eta must be >= 0 (0 = deterministic DDIM, 1 = DDPM-like), got {eta}")
        tt = torch.full((x_t.shape[0],), t, device=x_t.device, dtype=torch.long)
        eps = model(x_t, self.timestep_map.to(x_t.device)[tt])
        a, a_prev = extract(self.alpha_bar, tt, x_t.ndim), extract(self.alpha_bar_prev, tt, x_t.ndim)
        x0 = self.predict_x0(x_t, tt, eps).clamp(-1, 1)
        eps = (x_t - a.sqrt() * x0) / (1 - a).sqrt()
        sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).sqrt()
        sample = a_prev.sqrt() * x0 + (1 - a_prev - sigma ** 2).clamp(min=0).sqrt() * eps
        if t > 0 and eta > 0:
            sample = sample + sigma * torch.randn(x_t.shape, generator=generator, device=x_t.device,
                                                  dtype=x_t.dtype)
        return {"sample": sample, "x0": x0, "eps": eps}

    def p_sample_loop_progressive(self, model: EpsModel, shape: tuple[int, ...],
                                  generator: torch.Generator | None = None,
                                  device: torch.device | str = "cpu",
                                  x_T: torch.Tensor | None = None, sampler: str = "ddpm",
                                  eta: float = 0.0) -> Iterator[dict]:
        """Sample from pure noise; yields after every step, t = T-1 down to 0.

        sampler: ``"ddpm"`` (ancestral, :meth:`p_sample`) or ``"ddim"``
        (:meth:`ddim_step` with ``eta``). Use :meth:`respaced` for fewer steps.
        Each yielded dict has ``t`` (int, step index of this chain), ``sample``
        (x_{t-1}) and ``x0`` (the model's current estimate of the clean image),
        both of ``shape``.
        """
        if sampler not in ("ddpm", "ddim"):
            raise ValueError(f"unknown sampler {sampler!r}; expected 'ddpm' or 'ddim'")
        if sampler == "ddpm" and eta != 0.0:
            raise ValueError("eta only applies to the DDIM sampler (DDPM's noise is fixed by the schedule)")
        x = x_T if x_T is not None else torch.randn(shape, generator=generator, device=device)
        for t in reversed(range(self.T)):
            with torch.no_grad():
                if sampler == "ddpm":
                    out = self.p_sample(model, x, t, generator)
                else:
                    out = self.ddim_step(model, x, t, eta, generator)
            x = out["sample"]
            yield {"t": t, "sample": x, "x0": out["x0"]}

    def p_sample_loop(self, model: EpsModel, shape: tuple[int, ...],
                      generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu", sampler: str = "ddpm",
                      eta: float = 0.0) -> torch.Tensor:
        """Run :meth:`p_sample_loop_progressive` to the end; returns x_0 of ``shape``."""
        for out in self.p_sample_loop_progressive(model, shape, generator, device,
                                                  sampler=sampler, eta=eta):
            pass
        return out["sample"]


# --------------------------------------------------------------------- the true reverse step
def true_posterior_weights(x_t: torch.Tensor, alpha_bar: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """q(x0 = reference[i] | x_t) when the data set *is* ``reference``: weights (M, N), rows sum to 1.

    x_t: (M, D) flattened noisy images at one alpha_bar (a scalar tensor); reference: (N, D).
    """
    d2 = ((x_t ** 2).sum(1, keepdim=True) - 2 * alpha_bar.sqrt() * x_t @ reference.T
          + alpha_bar * (reference ** 2).sum(1))          # |x_t - sqrt(ab) x0_i|^2, (M, N)
    return torch.softmax(-d2 / (2 * (1 - alpha_bar)), dim=1)


def spread_share(chain: Diffusion, i: int, x0: torch.Tensor, reference: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """(M,) share of the true reverse step i -> i-1's variance that comes from not knowing x0.

    The true step q(x_{i-1} | x_i) over the data set ``reference`` (N, D) is a mixture of
    posteriors, one per candidate x0. Its variance is c^2 V + D sigma^2 (c = posterior_coef_x0,
    sigma^2 = posterior_variance, V = spread of the candidates under their weights); the share
    c^2 V / (c^2 V + D sigma^2) is ~0 when the step is one Gaussian and ~1 when it is a choice
    between digits. x0: (M, D) held-out images, noised to x_i with ``generator``; float64 advised.
    """
    ab = chain.alpha_bar.double()[i]
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    w = true_posterior_weights(x_t, ab, reference)
    V = w @ (reference ** 2).sum(1) - ((w @ reference) ** 2).sum(1)  # E_w |x0|^2 - |E_w x0|^2
    c2, var = chain.posterior_coef_x0.double()[i] ** 2, chain.posterior_variance.double()[i]
    return c2 * V / (c2 * V + x0.shape[1] * var)


def diffusion_from_config(config) -> Diffusion:
    """The :class:`Diffusion` described by a :class:`helpers.config.Config`."""
    return Diffusion(config.T, config.schedule)
