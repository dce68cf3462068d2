"""Notebook 03's exercises: the learning-rate schedule, the EMA update, and how an x0-prediction's
error reaches the noise estimate."""
from __future__ import annotations

import math

import torch
from torch import nn

from helpers.config import Config
from helpers.train import learning_rate, update_ema

from .core import NotYet, as_float, as_tensor_like, call, close, exercise, generator

TOL = 1e-6      # relative tolerance on a learning rate or a factor; tensors: 1e-5


def _lr_cases() -> list[tuple[float, int, int, int]]:
    """(peak, warmup_steps, total_steps, step): the end and the middle first (their hints are the most specific),
    the start, the warm-up's edge, random steps."""
    cases, g = [], generator()
    for peak, warmup, total in ((2e-3, 200, 5000), (1e-3, 10, 100), (5e-4, 1, 37)):
        steps = [total, total // 2, 0, 1, warmup - 1, warmup, total - 1]
        steps += torch.randint(0, total, (3,), generator=g).tolist()
        cases += [(peak, warmup, total, s) for s in steps]
    return cases


def _course_lr(peak: float, warmup: int, total: int, step: int) -> float:
    return learning_rate(Config().replace(lr=peak, warmup_steps=warmup, lr_schedule="cosine"), step, step / total)


@exercise("03.1", "write the body of my_learning_rate so that it returns a float, the learning rate at "
                  "`step` (it returns None now)")
def lr_schedule(answer) -> str:
    """Against helpers.train.learning_rate with progress = step / total_steps."""
    for peak, warmup, total, step in _lr_cases():
        got = as_float(call(answer, step, peak, warmup, total, name="a function my_learning_rate(step, peak, "
                            "warmup_steps, total_steps)"), "my_learning_rate's answer")
        want = _course_lr(peak, warmup, total, step)
        if math.isclose(got, want, rel_tol=TOL, abs_tol=TOL * peak):
            continue
        at = f"with peak {peak:g}, warm-up {warmup} and {total} steps, at step {step} your rate is {got:.4g}"
        if step == 0 and got == 0:
            raise NotYet(f"{at}: the first update would do nothing; count the step being taken in the warm-up")
        if step == 0 and got >= peak / 2:
            raise NotYet(f"{at}: warm-up starts near zero and reaches the peak after warmup_steps steps")
        if step == total:
            raise NotYet(f"{at}: at the end of the budget cosine decay has brought it to zero")
        if step == total // 2 and abs(got) < 0.01 * peak:
            raise NotYet(f"{at}: at half the budget half a cosine is only halfway down")
        raise NotYet(f"{at}, the course's {want:.4g}: write the warm-up factor and the decay factor "
                     "separately and multiply them")
    return (f"my_learning_rate agrees with helpers.train.learning_rate (within {TOL:g}) at {len(_lr_cases())} "
            "steps of three budgets")


def _ema_cases() -> list[tuple[torch.Tensor, torch.Tensor, float, int]]:
    g = generator()
    return [(torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), decay, step)
            for decay, step in ((0.995, 0), (0.995, 5), (0.995, 1000), (0.9, 3), (0.9, 100_000))]


def _course_ema(ema: torch.Tensor, param: torch.Tensor, decay: float, step: int) -> torch.Tensor:
    """The package's update_ema applied to one-parameter modules."""
    average, model = nn.Module(), nn.Module()
    average.w, model.w = nn.Parameter(ema.clone()), nn.Parameter(param.clone())
    update_ema(average, model, decay, step)
    return average.w.detach()


@exercise("03.2", "write the body of my_ema_update so that it returns the new average, a tensor shaped "
                  "like ema (it returns None now)")
def ema(answer) -> str:
    """Against helpers.train.update_ema on random tensors, decays and steps."""
    for ema_now, param, decay, step in _ema_cases():
        got = as_tensor_like(call(answer, ema_now.clone(), param.clone(), decay, step, name="a function "
                                  "my_ema_update(ema, param, decay, step)"), ema_now, "my_ema_update's average")
        want = _course_ema(ema_now, param, decay, step)
        if close(got, want, 1e-5):
            continue
        d = min(decay, (1 + step) / (10 + step))
        at = f"with decay {decay} at step {step}"
        if close(got, (1 - d) * ema_now + d * param, 1e-5):
            raise NotYet(f"{at} your average follows the newest weights almost entirely: which of the two "
                         "should keep the weight close to 1?")
        if close(got, decay * ema_now + (1 - decay) * param, 1e-5):
            raise NotYet(f"{at} you use the decay as given; early in training the package uses a smaller one, "
                         "so the average forgets the random initial weights quickly")
        raise NotYet(f"{at} your average is off by up to {float((got - want).abs().max()):.3g}: "
                     "it should be a weighted mean of ema and param whose weights sum to 1")
    return "my_ema_update matches helpers.train.update_ema (within 1e-5) at five decays and steps"


@exercise("03.3", "write the body of eps_error_per_x0_error so that it returns a float, the factor "
                  "(it returns None now)")
def x0_error(answer) -> str:
    """Against sqrt(alpha_bar / (1 - alpha_bar)) on values of alpha_bar from 0.0001 to 0.9999."""
    values = [0.9999, 0.99, 0.9, 0.5, 0.1, 0.01, 1e-4] + torch.rand(3, generator=generator()).tolist()
    for ab in values:
        got = as_float(call(answer, ab, name="a function eps_error_per_x0_error(alpha_bar_t)"),
                       "eps_error_per_x0_error's answer")
        want = math.sqrt(ab / (1 - ab))
        if math.isclose(got, want, rel_tol=TOL, abs_tol=TOL):
            continue
        at = f"for alpha_bar_t = {ab:g} you return {got:.4g}"
        if math.isclose(got, 1 / want, rel_tol=TOL):
            raise NotYet(f"{at}: that is the other direction, an error in eps reaching x0")
        if math.isclose(got, want ** 2, rel_tol=TOL):
            raise NotYet(f"{at}: x_t holds the square roots of alpha_bar_t and 1 - alpha_bar_t")
        raise NotYet(f"{at}: write eps_hat from x_t and x0_hat, then see what multiplies x0_hat")
    return "eps_error_per_x0_error is sqrt(alpha_bar_t / (1 - alpha_bar_t)) = sqrt(SNR_t) at ten noise levels"
