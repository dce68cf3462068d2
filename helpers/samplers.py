"""Reverse steps x_t -> x_{t-1}: DDPM (ancestral), DDIM and two higher-order ODE solvers, and the loop.

A sampler is written as a spec, one grammar everywhere (command line, experiments, notebooks):

    ddpm          ancestral sampling (Ho et al. 2020) over every step of the chain
    ddpm:50       the same over 50 evenly spaced timesteps (a respaced chain)
    ddim:25       DDIM (Song et al. 2021) over 25 steps with eta = 0: deterministic
    ddim:25:0.5   DDIM with eta = 0.5 (eta = 1 makes it the DDPM step)
    heun:10       Heun's second-order method (Karras et al. 2022) over 10 steps: 19 network calls
    dpm++:10      DPM-Solver++(2M) (Lu et al. 2022) over 10 steps: 10 network calls

and for flow-matching models (:mod:`helpers.flow`), which integrate dx/dt = velocity from t = 1 to 0:

    euler:10      Euler's method over 10 steps: 10 network calls
    heun:10       Heun's method over 10 steps (the last one Euler): 19 network calls
    midpoint:10   the explicit midpoint method over 10 steps: 20 network calls

A DDPM spec on a flow model, or ``euler``/``midpoint`` on a DDPM model, is refused
(:meth:`Sampler.check`).

Deterministic DDIM is Euler's method on the probability-flow ODE (in the variables
x / sqrt(alpha_bar) and sigma = sqrt((1 - alpha_bar) / alpha_bar), where the ODE is
d(x / sqrt(alpha_bar)) / d sigma = eps). Heun corrects each Euler step with a second network
call at its end point; DPM-Solver++(2M) instead reuses the previous step's clean-image
estimate (a multistep method), so it costs one call per step like DDIM but is second order.

Both steps begin alike (:func:`denoise`, the one place the model is called): the model
predicts the noise eps in x_t, which gives an estimate of the clean image,
x0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t), clipped to [-1, 1]. DDPM then
draws x_{t-1} from the posterior q(x_{t-1} | x_t, x0); DDIM moves to the previous noise
level along the same eps, adding eta-scaled noise. Steps are indices of the chain
(``T-1`` down to 0); the model sees ``chain.timestep_map`` of them.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from .flow import FLOW_STEPS, LinearPath, solve
from .schedule import Diffusion, extract

EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]   # (x_t (B,C,H,W), t (B,)) -> eps


def denoise(eps_model: EpsModel, chain: Diffusion, x_t: torch.Tensor,
            i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's noise estimate at step ``i`` and the clean image it implies, both (B, C, H, W).

    Returns (eps, x0) with x0 = predict_x0(x_t, i, eps) clipped to [-1, 1].
    """
    step = torch.full((x_t.shape[0],), i, device=x_t.device, dtype=torch.long)
    eps = eps_model(x_t, chain.timestep_map.to(x_t.device)[step])
    return eps, chain.predict_x0(x_t, step, eps).clamp(-1, 1)


def _noise_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def ddpm_step(chain: Diffusion, i: int, x_t: torch.Tensor, x0: torch.Tensor,
              generator: torch.Generator | None = None, eta: float = 0.0, history=None) -> torch.Tensor:
    """x_{i-1} ~ q(x_{i-1} | x_i, x0) = N(c0 x0 + ct x_t, beta tilde I); no noise at i = 0.

    x_t, x0: (B, C, H, W); i: step index. ``eta`` and ``history`` are not used (the variance is the schedule's).
    """
    mean, variance = chain.q_posterior(x0, x_t, torch.full((x_t.shape[0],), i, device=x_t.device))
    return mean + variance.sqrt() * _noise_like(x_t, generator) if i > 0 else mean


def ddim_step(chain: Diffusion, i: int, x_t: torch.Tensor, x0: torch.Tensor,
              generator: torch.Generator | None = None, eta: float = 0.0, history=None) -> torch.Tensor:
    """One DDIM step (Song et al. 2021, eq. 12), with a = alpha_bar[i], a' = alpha_bar_prev[i]:

        eps'    = (x_t - sqrt(a) x0) / sqrt(1 - a)          (the noise consistent with the clipped x0)
        sigma   = eta * sqrt((1 - a') / (1 - a) * (1 - a / a'))
        x_{i-1} = sqrt(a') x0 + sqrt(1 - a' - sigma^2) eps' + sigma z

    eta = 0 is deterministic; eta = 1 makes sigma^2 the posterior variance: the DDPM step.
    ``history`` is not used.
    """
    step = torch.full((x_t.shape[0],), i, device=x_t.device, dtype=torch.long)
    a, a_prev = extract(chain.alpha_bar, step, x_t.ndim), extract(chain.alpha_bar_prev, step, x_t.ndim)
    eps = chain.predict_eps(x_t, step, x0)
    sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).sqrt()
    x_prev = a_prev.sqrt() * x0 + (1 - a_prev - sigma ** 2).clamp(min=0).sqrt() * eps
    return x_prev + sigma * _noise_like(x_t, generator) if i > 0 and eta > 0 else x_prev


@dataclass
class History:
    """What a step may need beyond (x_t, x0): the network, for a solver that calls it again at the end
    of its step (Heun), and the previous step's index and clean-image estimate, for a multistep one
    (DPM-Solver++). :func:`reverse_process` keeps it; DDPM and DDIM ignore it."""

    eps_model: EpsModel | None = None
    previous: tuple[int, torch.Tensor] | None = None


def _sigma(chain: Diffusion, i: int, before: bool = False) -> float:
    """sigma = sqrt((1 - a) / a) at step i (a = alpha_bar[i]), or after it (a = alpha_bar_prev[i])."""
    a = float((chain.alpha_bar_prev if before else chain.alpha_bar)[i])
    return math.sqrt((1 - a) / a)


def heun_step(chain: Diffusion, i: int, x_t: torch.Tensor, x0: torch.Tensor,
              generator: torch.Generator | None = None, eta: float = 0.0,
              history: History | None = None) -> torch.Tensor:
    """One step of Heun's method on the probability-flow ODE (Karras et al. 2022, Algorithm 1).

    In y = x / sqrt(a) the ODE is dy / d sigma = eps, sigma = sqrt((1 - a) / a). An Euler step
    (which is the DDIM step) goes from sigma_i to sigma_{i-1} with the slope eps at the start;
    Heun calls the network again at the end point (step i-1) and repeats the step with the
    mean of the two slopes. The last step (to sigma = 0) stays Euler. Needs ``history.eps_model``.
    x_t, x0: (B, C, H, W); i: step index; deterministic (``generator`` and ``eta`` unused).
    """
    euler = ddim_step(chain, i, x_t, x0)
    if i == 0:
        return euler
    if history is None or history.eps_model is None:
        raise ValueError("heun_step calls the network a second time: pass history=History(eps_model)")
    step = torch.full((x_t.shape[0],), i, device=x_t.device, dtype=torch.long)
    eps = chain.predict_eps(x_t, step, x0)                               # the slope at the start
    _, x0_end = denoise(history.eps_model, chain, euler, i - 1)
    eps_end = chain.predict_eps(euler, step - 1, x0_end)                 # the slope at the end
    a_prev = float(chain.alpha_bar_prev[i])
    y = x_t / float(chain.alpha_bar[i]) ** 0.5 + (_sigma(chain, i, True) - _sigma(chain, i)) * (eps + eps_end) / 2
    return a_prev ** 0.5 * y


def dpmpp_2m_step(chain: Diffusion, i: int, x_t: torch.Tensor, x0: torch.Tensor,
                  generator: torch.Generator | None = None, eta: float = 0.0,
                  history: History | None = None) -> torch.Tensor:
    """One step of DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), from step i to i-1.

    With alpha = sqrt(a), sigma = sqrt(1 - a), lambda = log(alpha / sigma) and h = lambda_{i-1} - lambda_i:

        x_{i-1} = (sigma_{i-1} / sigma_i) x_t - alpha_{i-1} (exp(-h) - 1) D

    where D = x0 on the first step (this is then the DDIM step) and afterwards the linear
    extrapolation D = (1 + 1/(2r)) x0 - 1/(2r) x0_previous, r = h_previous / h, that makes the
    method second order for one network call per step. The last step (to a clean image) is
    first order: it returns x0. x_t, x0: (B, C, H, W); deterministic.
    """
    if i == 0 or history is None or history.previous is None:
        return ddim_step(chain, i, x_t, x0)
    j, x0_previous = history.previous
    lam = lambda a: 0.5 * math.log(a / (1 - a))                          # log(alpha / sigma)
    a, a_prev, a_before = (float(chain.alpha_bar[i]), float(chain.alpha_bar_prev[i]), float(chain.alpha_bar[j]))
    h, h_previous = lam(a_prev) - lam(a), lam(a) - lam(a_before)
    r = h_previous / h
    D = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * x0_previous
    return math.sqrt((1 - a_prev) / (1 - a)) * x_t - math.sqrt(a_prev) * math.expm1(-h) * D


# the sampler registry: name -> reverse step; and how many network calls a step of each makes
STEPS = {"ddpm": ddpm_step, "ddim": ddim_step, "heun": heun_step, "dpm++": dpmpp_2m_step}
FLOW_ONLY = ("euler", "midpoint")            # flow-matching ODE solvers (heun serves both kinds of model)


@dataclass(frozen=True)
class Sampler:
    """A reverse step from :data:`STEPS` run over ``steps`` timesteps (None: every one) with ``eta``."""

    name: str = "ddpm"
    steps: int | None = None
    eta: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in STEPS and self.name not in FLOW_STEPS:
            raise ValueError(f"unknown sampler {self.name!r}; expected one of {sorted({*STEPS, *FLOW_STEPS})}")
        if self.name in FLOW_ONLY and self.steps is None:
            raise ValueError(f"the flow sampler {self.name} needs a step count, e.g. {self.name}:20")
        if self.steps is not None and self.steps < 2:
            raise ValueError(f"a sampler needs at least 2 steps, got {self.steps}")
        if self.name != "ddim" and self.eta != 0:
            raise ValueError(f"eta only applies to the DDIM sampler, not {self.name} (DDPM's noise is fixed by "
                             "the schedule; Heun and DPM-Solver++ solve the deterministic ODE)")
        if not 0 <= self.eta <= 1:
            raise ValueError(f"eta must be in [0, 1] (0 = deterministic DDIM, 1 = DDPM-like), got {self.eta}")

    def __str__(self) -> str:
        return ":".join([self.name] + ([str(self.steps)] if self.steps else [])
                        + ([f"{self.eta:g}"] if self.eta else []))

    def chain(self, diffusion: Diffusion | LinearPath) -> Diffusion:
        """The chain this sampler walks: ``diffusion`` respaced to ``steps`` (or all of it); on a
        flow path, the ODE's time grid (:class:`helpers.flow.Grid`, ``T`` = its steps)."""
        self.check(diffusion)
        return diffusion.respaced(self.steps) if self.steps else diffusion

    def check(self, diffusion: Diffusion | LinearPath) -> None:
        """Raise one clear ValueError when this sampler does not fit the model's process."""
        flow = isinstance(diffusion, LinearPath)
        if flow and self.name not in FLOW_STEPS:
            raise ValueError(f"{self} is a DDPM sampler but this is a flow-matching model: use euler:STEPS, "
                             "heun:STEPS or midpoint:STEPS, e.g. euler:20")
        if not flow and self.name in FLOW_ONLY:
            raise ValueError(f"{self} is a flow-matching sampler but this is a DDPM model: use ddpm, "
                             "ddim:STEPS, heun:STEPS or dpm++:STEPS, e.g. ddim:25")

    def network_calls(self, diffusion: Diffusion) -> int:
        """Evaluations of the noise prediction to make one batch: one per step, two for Heun's
        (but one for its last). Classifier-free guidance makes each on a doubled batch."""
        steps = self.chain(diffusion).T
        return 2 * steps - 1 if self.name == "heun" else 2 * steps if self.name == "midpoint" else steps


def parse_sampler(spec: str | Sampler) -> Sampler:
    """'ddpm', 'ddpm:50', 'ddim:25', 'ddim:25:0.5', 'heun:10', 'dpm++:10', or for flow models
    'euler:10' or 'midpoint:10' (see the module docstring) -> :class:`Sampler`."""
    if isinstance(spec, Sampler):
        return spec
    match = re.fullmatch(r"(ddpm|ddim|heun|dpm\+\+|euler|midpoint)(?::([0-9]+))?(?::([0-9]*\.?[0-9]+))?", str(spec).strip())
    if not match or (match[3] and match[1] != "ddim") or (match[3] and not match[2]):
        raise ValueError(f"a sampler is written ddpm, ddpm:STEPS, ddim:STEPS, ddim:STEPS:ETA, heun:STEPS "
                         f"or dpm++:STEPS (e.g. ddim:25, ddim:50:0.5 or dpm++:10); flow-matching models: "
                         f"euler:STEPS, heun:STEPS or midpoint:STEPS; got {spec!r}")
    return Sampler(match[1], int(match[2]) if match[2] else None, float(match[3] or 0))


def reverse_process(eps_model: EpsModel, diffusion: Diffusion, x_T: torch.Tensor,
                    sampler: str | Sampler = "ddpm",
                    generator: torch.Generator | None = None) -> Iterator[dict]:
    """Denoise ``x_T`` (B, C, H, W) step by step; yields after every step, noisiest first.

    Each dict has ``step`` (index in the sampler's chain, T'-1 down to 0), ``t`` (the model
    timestep of that step), ``sample`` (the image after the step) and ``x0`` (the estimate
    of the clean image made at that step). On a flow path (:class:`helpers.flow.LinearPath`) it
    integrates the ODE instead (:func:`helpers.flow.solve`; ``t`` is then the continuous time).
    """
    sampler = parse_sampler(sampler)
    if isinstance(diffusion, LinearPath):
        yield from solve(diffusion, eps_model, x_T, sampler.name, sampler.chain(diffusion).T)
        return
    chain, step_fn, x = sampler.chain(diffusion), STEPS[sampler.name], x_T
    history = History(eps_model)
    for i in reversed(range(chain.T)):
        with torch.no_grad():
            _, x0 = denoise(eps_model, chain, x, i)
            x = step_fn(chain, i, x, x0, generator, sampler.eta, history)
        history.previous = (i, x0)
        yield {"step": i, "t": int(chain.timestep_map[i]), "sample": x, "x0": x0}
