"""Flow matching on the linear (rectified-flow) path: the path, training times, the loss, ODE solvers.

Time convention: continuous ``t`` in [0, 1], **t = 0 data, t = 1 noise**, the direction of the
DDPM chain (its timesteps also grow with the noise). The linear path (Lipman et al. 2023's
conditional OT path; Liu et al. 2023's rectified flow) is

    x_t = (1 - t) x0 + t eps,        velocity u = d x_t / dt = eps - x0

so alpha_t = 1 - t, sigma_t = t in the notation of :mod:`helpers.prediction`. Meta's
``flow_matching`` library runs time the other way (its t = 0 is noise, x_t = t x_1 + (1 - t) x_0
with x_1 the data): its t is our 1 - t and its velocity is minus ours (tests/test_flow.py pins this).

The network is the course's U-Net: it is shown continuous t as the float ``t * (T - 1)``, the
same range 0..T-1 its sinusoidal embedding sees under DDPM (:func:`helpers.unet.timestep_embedding`
takes floats). Sampling integrates dx/dt = u(x, t) from t = 1 (pure noise) down to t = 0 on an
evenly spaced grid with Euler, Heun or the midpoint method; the path is one object
(:class:`LinearPath`), the solver steps are plain functions, the model a third thing passed in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from .prediction import Coefficients, split, target, velocity

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]   # (x_t (B,C,H,W), model time (B,)) -> output
Field = Callable[[torch.Tensor, float], torch.Tensor]            # (x (B,C,H,W), t) -> velocity (B,C,H,W)

# training-time distributions of logit(t) = ln(t / (1 - t)) = ln(sigma_t / alpha_t): None = uniform t
TIME_SAMPLING = {"uniform": None,
                 "logit_normal": (0.0, 1.0),      # Esser et al. 2024 (Stable Diffusion 3): logit(t) ~ N(0, 1)
                 "lognormal": (-1.2, 1.2)}        # EDM's ln sigma ~ N(-1.2, 1.2^2): on this path the same family


@dataclass(frozen=True)
class LinearPath:
    """x_t = (1 - t) x0 + t eps for continuous t in [0, 1]; ``prediction``: what the network outputs.

    ``T``: the model timestep range the network's embedding was built for; t is shown as t * (T - 1).
    """

    T: int = 300
    prediction: str = "velocity"

    def coefficients(self, t: torch.Tensor, ndim: int = 4) -> Coefficients:
        """alpha = 1 - t, sigma = t and their derivatives -1, 1, each (B,) + (1,) * (ndim - 1); t: (B,)."""
        t = t.reshape(-1, *([1] * (ndim - 1)))
        return Coefficients(1 - t, t, -torch.ones_like(t), torch.ones_like(t))

    def sample(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_t, u): the point of the path at t (B,) and its velocity eps - x0; x0, noise: (B, C, H, W)."""
        c = self.coefficients(t, x0.ndim)
        return c.alpha * x0 + c.sigma * noise, velocity(x0, noise, c)

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        """The float timestep (B,) in [0, T-1] the U-Net is shown for t (B,) in [0, 1]."""
        return t * (self.T - 1)

    def velocity_and_x0(self, model: ModelFn, x: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The velocity (B, C, H, W) the model predicts at (x, t), and the clean image it implies."""
        tt = torch.full((x.shape[0],), float(t), device=x.device, dtype=x.dtype)
        c = self.coefficients(tt, x.ndim)
        x0, eps = split(self.prediction, model(x, self.model_time(tt)), x, c)
        return velocity(x0, eps, c), x0

    def respaced(self, steps: int) -> "Grid":
        """The solver's time grid of ``steps`` steps from t = 1 to t = 0."""
        return Grid(steps)


@dataclass(frozen=True)
class Grid:
    """``T`` evenly spaced ODE steps from t = 1 down to t = 0 (``times``: T + 1 floats)."""

    T: int

    @property
    def times(self) -> list[float]:
        return torch.linspace(1.0, 0.0, self.T + 1, dtype=torch.float64).tolist()


def sample_times(kind: str, n: int, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """n training times (n,) in (0, 1): uniform, or logit(t) ~ N(mean, std^2) (:data:`TIME_SAMPLING`)."""
    if kind not in TIME_SAMPLING:
        raise ValueError(f"unknown time sampling {kind!r}; expected one of {list(TIME_SAMPLING)}")
    if TIME_SAMPLING[kind] is None:
        return torch.rand(n, generator=generator, device=device)
    mean, std = TIME_SAMPLING[kind]
    return torch.sigmoid(mean + std * torch.randn(n, generator=generator, device=device))


def flow_matching_loss(path: LinearPath, model: ModelFn, x0: torch.Tensor, generator: torch.Generator | None = None,
                       t: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                       time_sampling: str = "uniform") -> torch.Tensor:
    """Conditional flow matching: mean squared error between the model output and its target at x_t.

    x0: (B, C, H, W) in [-1, 1]; t (B,) and noise (B, C, H, W) are drawn with ``generator`` when
    not given; the target is ``path.prediction``'s (the velocity eps - x0 by default). Scalar.
    """
    if t is None:
        t = sample_times(time_sampling, x0.shape[0], generator, x0.device)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    x_t, _ = path.sample(x0, noise, t)
    want = target(path.prediction, x0, noise, path.coefficients(t, x0.ndim))
    return (model(x_t, path.model_time(t)) - want).square().mean()


def euler_step(field: Field, x: torch.Tensor, t: float, t_next: float, u: torch.Tensor) -> torch.Tensor:
    """x + (t_next - t) u, with u = field(x, t) already evaluated; (B, C, H, W)."""
    return x + (t_next - t) * u


def midpoint_step(field: Field, x: torch.Tensor, t: float, t_next: float, u: torch.Tensor) -> torch.Tensor:
    """The explicit midpoint method: half an Euler step, then the whole step with the slope there."""
    h = t_next - t
    return x + h * field(x + h / 2 * u, t + h / 2)


def heun_step(field: Field, x: torch.Tensor, t: float, t_next: float, u: torch.Tensor) -> torch.Tensor:
    """Heun's method: an Euler step, then the step again with the mean of the slopes at both ends.

    The last step (to t = 0) stays Euler, as in Karras et al. 2022 and the DDPM-side Heun:
    an x0- or eps-parameterised network need not be evaluated at t = 0.
    """
    euler = x + (t_next - t) * u
    return euler if t_next == 0 else x + (t_next - t) * (u + field(euler, t_next)) / 2


FLOW_STEPS = {"euler": euler_step, "heun": heun_step, "midpoint": midpoint_step}


def solve(path: LinearPath, model: ModelFn, x_1: torch.Tensor, name: str, steps: int) -> Iterator[dict]:
    """Integrate from x_1 (B, C, H, W) ~ N(0, I) at t = 1 to t = 0 in ``steps`` steps of ``name``.

    Yields after each step a dict like :func:`helpers.samplers.reverse_process`'s: ``step``
    (steps-1 down to 0), ``t`` (the time the step started from), ``sample`` and ``x0`` (the
    clean image implied at its start).
    """
    step_fn, times, x = FLOW_STEPS[name], Grid(steps).times, x_1
    field = lambda y, s: path.velocity_and_x0(model, y, s)[0]           # noqa: E731
    for k in range(steps):
        with torch.no_grad():
            u, x0 = path.velocity_and_x0(model, x, times[k])
            x = step_fn(field, x, times[k], times[k + 1], u)
        yield {"step": steps - 1 - k, "t": times[k], "sample": x, "x0": x0}
