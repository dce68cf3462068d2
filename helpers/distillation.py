"""Progressive distillation (Salimans & Ho 2022): a student whose one DDIM step does its teacher's two.

The teacher is any noise model on a chain of 2N steps with timesteps u_0 < u_1 < ... < u_{2N-1}
(the guided reference at a fixed weight w on a respaced chain, or the student of the stage
before). The student walks every other timestep, u_1, u_3, ..., u_{2N-1} (:func:`halve`): N
steps, each from u_{2k+1} to u_{2k-1} and the last from u_1 to a clean image, so one student
step spans exactly two teacher steps. Training noises a real image to x at a student timestep,
runs the teacher's two deterministic DDIM steps from it, and asks the student's single step to
land at the same point: the student regresses the noise that would take it there, the course's
training objective with the teacher's answer in place of the true noise (:func:`distillation_loss`). The student starts as a copy of the
teacher; each stage halves the steps (16 -> 8 -> 4 -> 2), with a few thousand training steps.

A guided teacher calls the network on a doubled batch (labelled and "no label"); the student
learns the guided prediction directly from the label, so each of its calls costs half as much
and it needs no guidance weight when it samples. Timesteps follow :mod:`helpers.schedule`
(integers 0..T-1; a chain's ``timestep_map`` gives the ones the network sees).
"""
from __future__ import annotations

from typing import Callable

import torch

from .samplers import EpsModel, ddim_step, denoise
from .schedule import Diffusion, extract
from .unet import UNet


def halve(chain: Diffusion) -> Diffusion:
    """The student's chain: every other step of ``chain`` (T even), u_1, u_3, ..., u_{T-1}."""
    if chain.T % 2 or chain.T < 4:
        raise ValueError(f"a chain of {chain.T} steps cannot be halved: it needs an even number, at least 4")
    return chain.subset(torch.arange(1, chain.T, 2))


def landing_x0(student: Diffusion, k: torch.Tensor, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The clean image whose DDIM step k (k: (B,)) on ``student`` goes from x to ``target``.

    One DDIM step is x' = sqrt(a') x0 + sqrt(1 - a') (x - sqrt(a) x0) / sqrt(1 - a), linear in x0;
    solved for it: x0 = (x' - c x) / (sqrt(a') - c sqrt(a)) with c = sqrt((1 - a') / (1 - a)).
    x, target: (B, C, H, W).
    """
    a, a_next = extract(student.alpha_bar, k, x.ndim), extract(student.alpha_bar_prev, k, x.ndim)
    c = ((1 - a_next) / (1 - a)).sqrt()
    return (target - c * x) / (a_next.sqrt() - c * a.sqrt())


@torch.no_grad()
def teacher_two_steps(teacher: EpsModel, chain: Diffusion, k: int, x: torch.Tensor) -> torch.Tensor:
    """The teacher's two DDIM steps (eta = 0) on ``chain`` from index 2k+1 through 2k to 2k-1 (or to a
    clean image when k = 0), from x (B, C, H, W) at the student's step k."""
    for i in (2 * k + 1, 2 * k):
        _, x0 = denoise(teacher, chain, x, i)
        x = ddim_step(chain, i, x, x0)
    return x


def distillation_loss(student: UNet, teacher: Callable[[torch.Tensor | None], EpsModel], chain: Diffusion,
                      x0: torch.Tensor, y: torch.Tensor | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """The student's noise-prediction error against the noise that would make its one step land where
    the teacher's two steps land.

    x0: (B, C, H, W) real images with labels y (B,) or None, shared out over the student's N steps
    in turn (row r goes to step r mod N), each noised to its step's timestep with ``generator``;
    the target noise is eps* = (x - sqrt(a) x0*) / sqrt(1 - a) with x0* from :func:`landing_x0`.
    ``teacher(labels)`` gives the teacher's noise model for those labels (e.g. the guided
    reference: ``lambda y: eps_model(reference, y, 1.5)``); ``chain``: the teacher's chain
    (2N steps). Returns a scalar, the mean squared error over the batch.
    """
    short = halve(chain)
    step = torch.arange(x0.shape[0], device=x0.device) % short.T
    noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    x = short.q_sample(x0, step, noise)
    landed = torch.empty_like(x)
    for k in range(short.T):
        rows = step == k
        landed[rows] = teacher_two_steps(teacher(None if y is None else y[rows]), chain, k, x[rows])
    target = short.predict_eps(x, step, landing_x0(short, step, x, landed))
    return (student(x, short.timestep_map.to(x0.device)[step], y) - target).square().mean()
