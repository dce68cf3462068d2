"""The noise schedule and the forward process q, with the posterior q(x_{t-1} | x_t, x0).

Timestep convention (used everywhere in this package): integer ``t`` in ``0..T-1``.
Index ``t`` is the paper's step ``t+1``: ``x_t`` is the image after ``t+1`` noising
steps, so ``alpha_bar[0] = 1 - beta[0]`` and ``x_{T-1}`` is the noisiest image.
Images live in [-1, 1]. This is also diffusers' convention (``DDPMScheduler``).

:class:`Diffusion` holds the schedule as tensors and never owns a model: the
reverse steps that call one live in :mod:`helpers.samplers`, the training
objective in :mod:`helpers.train`.
"""
from __future__ import annotations

import math

import torch

from .flow import LinearPath


def make_betas(kind: str, T: int) -> torch.Tensor:
    """Betas, shape (T,), float64, for schedule ``kind``.

    - ``linear``: 1e-4 to 0.02 over T steps, as in Ho et al. 2020 (who used T = 1000)
      and the student report (T = 300).
    - ``rescaled_linear``: the same line with both end points times 1000/T, so a
      chain of T steps adds as much noise as the 1,000-step one (improved-diffusion's
      ``linear``). Not diffusers' ``scaled_linear``, which spaces sqrt(beta) linearly.
    - ``cosine``: alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2), s = 0.008,
      betas clipped at 0.999 (Nichol & Dhariwal 2021, eq. 17).
    """
    if kind == "linear":
        return torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    if kind == "rescaled_linear":
        if T <= 20:
            raise ValueError(f"rescaled_linear needs T > 20 (its last beta, 20/T, must stay below 1); "
                             f"got T={T}: use 'linear' or 'cosine' for very short chains")
        scale = 1000.0 / T
        return torch.linspace(scale * 1e-4, scale * 0.02, T, dtype=torch.float64)
    if kind == "cosine":
        s = 0.008
        f = torch.cos((torch.arange(T + 1, dtype=torch.float64) / T + s) / (1 + s) * math.pi / 2) ** 2
        alpha_bar = f / f[0]
        return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
    raise ValueError(f"unknown schedule {kind!r}; expected 'linear', 'rescaled_linear' or 'cosine'")


def extract(values: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    """Gather ``values[t]`` and reshape to (B, 1, ..., 1) to broadcast over an image batch.

    values: (T,) schedule tensor; t: (B,) LongTensor; returns (B,) + (1,) * (ndim - 1).
    """
    out = values.to(t.device)[t]
    return out.reshape(t.shape[0], *([1] * (ndim - 1)))


class Diffusion:
    """A Gaussian diffusion with ``T`` steps and the given beta schedule.

    Attributes, all shape (T,) float32: ``betas``, ``alphas``, ``alpha_bar``,
    ``alpha_bar_prev`` (alpha_bar one step earlier, 1 before the first step),
    ``posterior_variance`` (beta tilde) and the posterior mean's coefficients
    ``posterior_coef_x0``, ``posterior_coef_xt``. ``timestep_map`` (T,) gives the
    model timestep of each step: the identity, except in a respaced chain.
    """

    def __init__(self, T: int = 300, schedule: str = "linear", betas: torch.Tensor | None = None,
                 timestep_map: torch.Tensor | None = None):
        if T < 2:
            raise ValueError(f"T must be at least 2, got {T}")
        self.T, self.schedule = T, schedule
        betas = make_betas(schedule, T) if betas is None else betas.double()   # float64 products
        self.timestep_map = torch.arange(T) if timestep_map is None else timestep_map
        alphas = 1.0 - betas
        alpha_bar = torch.cumprod(alphas, dim=0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        self.betas, self.alphas = betas.float(), alphas.float()
        self.alpha_bar, self.alpha_bar_prev = alpha_bar.float(), alpha_bar_prev.float()
        # beta tilde_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)          (Ho et al. eq. 7)
        self.posterior_variance = (betas * (1 - alpha_bar_prev) / (1 - alpha_bar)).float()
        # posterior mean mu = c0 * x0 + ct * x_t                                    (Ho et al. eq. 7)
        self.posterior_coef_x0 = (betas * alpha_bar_prev.sqrt() / (1 - alpha_bar)).float()
        self.posterior_coef_xt = ((1 - alpha_bar_prev) * alphas.sqrt() / (1 - alpha_bar)).float()

    def __repr__(self) -> str:
        return f"Diffusion(T={self.T}, schedule={self.schedule!r})"

    def respaced(self, steps: int) -> "Diffusion":
        """This chain over ``steps`` evenly spaced timesteps, 0 and T-1 included (see :meth:`subset`).

        ``steps == T`` returns this chain itself.
        """
        if not 1 < steps <= self.T:
            raise ValueError(f"steps must be between 2 and T={self.T}, got {steps}")
        if steps == self.T:
            return self
        return self.subset(torch.linspace(0, self.T - 1, steps).round().long())

    def subset(self, timesteps: torch.Tensor) -> "Diffusion":
        """A shorter chain over the increasing ``timesteps`` (K,) of this one (Nichol & Dhariwal 2021).

        Keeps alpha_bar at those timesteps and recomputes the betas between them,
        beta_i = 1 - alpha_bar[s_i] / alpha_bar[s_{i-1}], so a model trained on this
        chain samples the shorter one unchanged: it still sees the original timesteps
        through ``timestep_map``.
        """
        timesteps = torch.as_tensor(timesteps, dtype=torch.long)
        if timesteps.ndim != 1 or len(timesteps) < 2 or (timesteps[1:] <= timesteps[:-1]).any() \
                or timesteps[0] < 0 or timesteps[-1] >= self.T:
            raise ValueError(f"timesteps must be at least 2 increasing integers in 0..{self.T - 1}")
        ab = self.alpha_bar.double()[timesteps]
        betas = 1 - ab / torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
        return Diffusion(len(timesteps), self.schedule, betas=betas, timestep_map=self.timestep_map[timesteps])

    def signal_at_end(self) -> float:
        """sqrt(alpha_bar) at t = T-1: how much of x0 survives in the noisiest x_t (0: pure noise)."""
        return float(self.alpha_bar[-1].sqrt())

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar / (1 - alpha_bar), shape (T,)."""
        return self.alpha_bar / (1 - self.alpha_bar)

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
        """Mean (B, C, H, W) and variance (B, 1, 1, 1) of q(x_{t-1} | x_t, x0); t: (B,)."""
        mean = (extract(self.posterior_coef_x0, t, x_t.ndim) * x0
                + extract(self.posterior_coef_xt, t, x_t.ndim) * x_t)
        return mean, extract(self.posterior_variance, t, x_t.ndim)

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Invert q_sample: x0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t); t: (B,)."""
        ab = extract(self.alpha_bar, t, x_t.ndim)
        return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()

    def predict_eps(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """The noise that takes x0 to x_t: (x_t - sqrt(alpha_bar_t) x0) / sqrt(1 - alpha_bar_t); t: (B,)."""
        ab = extract(self.alpha_bar, t, x_t.ndim)
        return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()


def true_posterior_weights(x_t: torch.Tensor, alpha_bar: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """q(x0 = data[i] | x_t) when the data set *is* ``data``: weights (M, N), rows sum to 1.

    x_t: (M, D) flattened noisy images at one alpha_bar (a scalar tensor); data: (N, D).
    """
    d2 = ((x_t ** 2).sum(1, keepdim=True) - 2 * alpha_bar.sqrt() * x_t @ data.T
          + alpha_bar * (data ** 2).sum(1))          # |x_t - sqrt(ab) x0_i|^2, (M, N)
    return torch.softmax(-d2 / (2 * (1 - alpha_bar)), dim=1)


def spread_share(chain: Diffusion, i: int, x0: torch.Tensor, data: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """(M,) share of the true reverse step i -> i-1's variance that comes from not knowing x0.

    The true step q(x_{i-1} | x_i) over the data set ``data`` (N, D) is a mixture of
    posteriors, one per candidate x0. Its variance is c^2 V + D sigma^2 (c = posterior_coef_x0,
    sigma^2 = posterior_variance, V = spread of the candidates under their weights); the share
    c^2 V / (c^2 V + D sigma^2) is ~0 when the step is one Gaussian and ~1 when it is a choice
    between digits. x0: (M, D) held-out images, noised to x_i with ``generator``; float64 advised.
    """
    ab = chain.alpha_bar.double()[i]
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    w = true_posterior_weights(x_t, ab, data)
    V = w @ (data ** 2).sum(1) - ((w @ data) ** 2).sum(1)  # E_w |x0|^2 - |E_w x0|^2
    c2, var = chain.posterior_coef_x0.double()[i] ** 2, chain.posterior_variance.double()[i]
    return c2 * V / (c2 * V + x0.shape[1] * var)


def diffusion_from_config(config):
    """The :class:`Diffusion` described by a :class:`helpers.config.Config`, or for ``method="flow"``
    the :class:`helpers.flow.LinearPath` (the process every sampler and loss is given)."""
    if getattr(config, "method", "ddpm") == "flow":
        return LinearPath(config.T, config.prediction)
    return Diffusion(config.T, config.schedule)
