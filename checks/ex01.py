"""Notebook 01's exercises: invert the closed form, find where the SNR crosses 1, compose two
forward steps, and find the shortest linear chain that ends in noise."""
from __future__ import annotations

import math
from functools import lru_cache

import torch

from helpers.schedule import Diffusion, make_betas

from .core import NotYet, as_float, as_int, as_tensor_like, call, close, exercise, first_match, generator

TOL = 1e-4          # relative (or, below 1, absolute) tolerance on computed tensors and numbers
END_SIGNAL = 0.01   # exercise 01.4: x_{T-1} counts as noise when sqrt(alpha_bar_{T-1}) is below this


def _gather(alpha_bar: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """alpha_bar[t] shaped (B, 1, 1, 1)."""
    return alpha_bar[t].view(-1, 1, 1, 1)


def _predict_x0_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor, Diffusion]]:
    """(schedule, x_t, t, eps, diffusion) for three random batches, each t drawn anew per image."""
    g, cases = generator(), []
    for kind, T, B in (("linear", 300, 16), ("cosine", 300, 5), ("rescaled_linear", 1000, 7)):
        d = Diffusion(T, kind)
        t = torch.randint(0, T - 1, (B,), generator=g)        # the cosine schedule's last step is nearly all noise
        x0 = torch.rand(B, 1, 28, 28, generator=g) * 2 - 1
        eps = torch.randn(B, 1, 28, 28, generator=g)
        cases.append((kind, d.q_sample(x0, t, eps), t, eps, d))
    return cases


@exercise("01.1", "write the body of my_predict_x0 so that it returns x0, a tensor shaped like x_t "
                  "(it returns None now)")
def predict_x0(answer) -> str:
    """Against Diffusion.predict_x0 on random batches of three schedules."""
    for kind, x_t, t, eps, d in _predict_x0_cases():
        inputs = (x_t.clone(), t.clone(), eps.clone(), d.alpha_bar.clone())     # the answer may change them in place
        out = call(answer, *inputs, name="a function my_predict_x0(x_t, t, eps, alpha_bar)")
        got = as_tensor_like(out, x_t, "my_predict_x0's x0", " (one clean image per noisy one)")
        want = d.predict_x0(x_t, t, eps)
        if close(got, want, TOL):
            continue
        ab = _gather(d.alpha_bar, t)
        mistakes = {
            "you undo alpha_bar itself where x_t holds its square roots": (x_t - (1 - ab) * eps) / ab,
            "removing the noise is right, but the signal in x_t is x0 scaled down: undo that scaling too":
                x_t - (1 - ab).sqrt() * eps,
            "the noise has to be taken away from x_t, not added": (x_t + (1 - ab).sqrt() * eps) / ab.sqrt(),
            "the noise's coefficient in x_t is sqrt(1 - alpha_bar_t), not sqrt(alpha_bar_t)":
                (x_t - ab.sqrt() * eps) / ab.sqrt(),
            "you read alpha_bar one timestep early: alpha_bar[t] is already the entry of timestep t":
                d.predict_x0(x_t, (t - 1) % d.T, eps),
            "you read alpha_bar one timestep late: alpha_bar[t] is already the entry of timestep t":
                d.predict_x0(x_t, t + 1, eps),
        }
        hint = first_match(got, mistakes, TOL)
        off = float((got - want).abs().max())
        raise NotYet(hint or f"on the {kind} schedule your x0 is off by up to {off:.3g}: rearrange "
                             "x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps for x0, one term at a time")
    return (f"my_predict_x0 recovers x0 as Diffusion.predict_x0 does (within {TOL:g}) on 28 random noisy images "
            "of three schedules")


def _first_below_1(alpha_bar: torch.Tensor) -> int:
    return int((alpha_bar / (1 - alpha_bar) < 1).nonzero()[0])


def _snr_cases() -> list[tuple[str, torch.Tensor]]:
    """(description, alpha_bar) for the three schedules at T = 300 and 1000, and two random schedules."""
    cases = [(f"{kind}, T = {T}", Diffusion(T, kind).alpha_bar) for T in (300, 1000)
             for kind in ("linear", "rescaled_linear", "cosine")]
    g = generator()
    for T in (50, 400):
        betas = torch.rand(T, generator=g, dtype=torch.float64) * 6 / T + 1e-4   # ends in noise
        cases.append((f"a random schedule with T = {T}", torch.cumprod(1 - betas, 0).float()))
    return cases


@exercise("01.2", "write the body of first_t_snr_below_1 so that it returns an int, the first t at "
                  "which SNR_t < 1 (it returns None now)")
def snr_crossing(answer) -> str:
    """Against the first index with alpha_bar / (1 - alpha_bar) < 1, on eight schedules."""
    for name, alpha_bar in _snr_cases():
        out = call(answer, alpha_bar.clone(), name="a function first_t_snr_below_1(alpha_bar)")
        got = as_int(out, "first_t_snr_below_1's answer")
        want = _first_below_1(alpha_bar)
        if got == want:
            continue
        if got == want - 1:
            raise NotYet(f"for {name} that is the last t at which the SNR is still at least 1; "
                         "the exercise asks for the first t at which it is below 1")
        if got == len(alpha_bar) - want:
            raise NotYet(f"for {name} that is how many timesteps have SNR below 1, not where they begin")
        if not 0 <= got < len(alpha_bar):
            raise NotYet(f"for {name} you returned t = {got}, outside the timesteps 0..{len(alpha_bar) - 1}")
        snr = alpha_bar / (1 - alpha_bar)
        where = "is not below 1 yet" if snr[got] >= 1 else f"is below 1, but so is the SNR at t = {got - 1}"
        raise NotYet(f"for {name} you returned t = {got}, where the SNR ({float(snr[got]):.3g}) {where}")
    return "first_t_snr_below_1 finds the crossing on the three schedules at T = 300 and 1000 and on two random ones"


@exercise("01.3", "write the body of one_step_equivalent so that it returns two numbers, "
                  "(signal_scale, noise_std) (it returns None now)")
def two_steps(answer) -> str:
    """Against (sqrt(a1 a2), sqrt(1 - a1 a2)) on random pairs of alphas."""
    g = generator()
    pairs = [(0.99, 0.98), (0.5, 0.5)] + [tuple(torch.rand(2, generator=g, dtype=torch.float64).tolist())
                                          for _ in range(4)]
    for a1, a2 in pairs:
        out = call(answer, a1, a2, name="a function one_step_equivalent(alpha_1, alpha_2)")
        if isinstance(out, torch.Tensor) and out.numel() == 2:
            out = out.flatten().tolist()
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise NotYet(f"one_step_equivalent should return a pair (signal_scale, noise_std), got {type(out).__name__}"
                         + (f" of length {len(out)}" if hasattr(out, "__len__") else ""))
        scale, std = (as_float(v, f"one_step_equivalent's {n}") for v, n in zip(out, ("signal_scale", "noise_std")))
        at = f"for alpha_1 = {a1:.3g}, alpha_2 = {a2:.3g}"
        if not math.isclose(scale, math.sqrt(a1 * a2), rel_tol=TOL, abs_tol=TOL):
            if math.isclose(scale, a1 * a2, rel_tol=TOL, abs_tol=TOL):
                raise NotYet(f"{at} your signal_scale is alpha_1 alpha_2; each step scales its input by a square root")
            raise NotYet(f"{at} your signal_scale is {scale:.4g}: follow x_(t-2) through both steps; "
                         "what multiplies it in the end?")
        std_mistakes = {
            "standard deviations of independent noises do not add; their variances do":
                math.sqrt(1 - a1) + math.sqrt(1 - a2),
            "the first step's noise passes through the second step too, which scales it":
                math.sqrt(2 - a1 - a2),
            "that is the noise's variance; the exercise asks for its standard deviation": 1 - a1 * a2,
        }
        if not math.isclose(std, math.sqrt(1 - a1 * a2), rel_tol=TOL, abs_tol=TOL):
            hint = next((h for h, v in std_mistakes.items() if math.isclose(std, v, rel_tol=TOL, abs_tol=TOL)), None)
            raise NotYet(f"{at}: " + (hint or f"your noise_std is {std:.4g}; an image of variance 1 keeps variance 1 "
                                               f"in every step, so signal_scale^2 + noise_std^2 should be 1 "
                                               f"(yours: {scale ** 2 + std ** 2:.4g})"))
    return "one_step_equivalent gives sqrt(alpha_1 alpha_2) and sqrt(1 - alpha_1 alpha_2) on six pairs of alphas"


@lru_cache(maxsize=1)
def smallest_linear_T(threshold: float = END_SIGNAL) -> int:
    """The smallest T whose linear chain keeps sqrt(alpha_bar_{T-1}) below ``threshold``."""
    return next(T for T in range(2, 100_000) if _signal(T) < threshold)


def _signal(T: int) -> float:
    return float(torch.cumprod(1 - make_betas("linear", T), 0)[-1].float().sqrt())


@exercise("01.4", "set smallest_T to an int, the length of the shortest linear chain whose "
                  f"sqrt(alpha_bar_(T-1)) is below {END_SIGNAL}")
def smallest_T(answer) -> str:
    """Against the first T of a scan over linear chains."""
    got, want = as_int(answer, "smallest_T"), smallest_linear_T()
    if got < 2:
        raise NotYet(f"a chain needs at least 2 steps, got T = {got}")
    if got != want:
        signal = _signal(got)
        if signal >= END_SIGNAL:
            raise NotYet(f"a linear chain of T = {got} steps keeps sqrt(alpha_bar_(T-1)) = {signal:.5f}, "
                         f"not below {END_SIGNAL} yet")
        raise NotYet(f"T = {got} ends below {END_SIGNAL} ({signal:.5f}), but a shorter chain does too: "
                     "find the smallest")
    return (f"T = {want} is the shortest linear chain to end below {END_SIGNAL} "
            f"({_signal(want):.5f}; T = {want - 1} keeps {_signal(want - 1):.5f})")
