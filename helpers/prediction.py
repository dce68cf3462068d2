"""What the network predicts, and the conversions between eps, x0, v, velocity and the score: one place.

Every process in this course writes a noisy image as

    x_t = alpha_t x0 + sigma_t eps,          eps ~ N(0, I)

DDPM: alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t) (:mod:`helpers.schedule`);
the linear flow path: alpha_t = 1 - t, sigma_t = t (:mod:`helpers.flow`). Given the pair
(x0, eps), each prediction target is a fixed linear combination of them:

    eps        the noise                                   (Ho et al. 2020)
    x0         the clean image
    v          alpha_t eps - sigma_t x0                    (Salimans & Ho 2022)
    velocity   d x_t / dt = alpha_t' x0 + sigma_t' eps     (Lipman et al. 2023; Liu et al. 2023)

and, given x_t, the network's output in any of them determines both x0 and eps again
(:func:`split`). The score of the noisy distribution is -eps / sigma_t (Tweedie). A sampler asks
for the quantity it integrates (eps, x0 or velocity) through these functions and never branches
on what the network was trained to output.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

PREDICTIONS = ("eps", "x0", "v", "velocity")


class Coefficients(NamedTuple):
    """alpha_t, sigma_t and their time derivatives, each broadcastable to the images, e.g. (B, 1, 1, 1).

    The derivatives are needed only for ``velocity`` (DDPM's discrete chain has none: None).
    """

    alpha: torch.Tensor
    sigma: torch.Tensor
    d_alpha: torch.Tensor | None = None
    d_sigma: torch.Tensor | None = None


def velocity(x0: torch.Tensor, eps: torch.Tensor, c: Coefficients) -> torch.Tensor:
    """d x_t / dt = alpha_t' x0 + sigma_t' eps; (B, C, H, W)."""
    if c.d_alpha is None:
        raise ValueError("velocity needs d alpha / dt and d sigma / dt: a continuous-time path (method 'flow')")
    return c.d_alpha * x0 + c.d_sigma * eps


def target(kind: str, x0: torch.Tensor, eps: torch.Tensor, c: Coefficients) -> torch.Tensor:
    """The regression target of a network that predicts ``kind``, from the clean image and noise (B, C, H, W)."""
    if kind == "eps":
        return eps
    if kind == "x0":
        return x0
    if kind == "v":
        return c.alpha * eps - c.sigma * x0
    if kind == "velocity":
        return velocity(x0, eps, c)
    raise ValueError(f"unknown prediction {kind!r}; expected one of {list(PREDICTIONS)}")


def split(kind: str, out: torch.Tensor, x_t: torch.Tensor, c: Coefficients) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0, eps) implied by the network output ``out`` (a ``kind`` prediction) at x_t; all (B, C, H, W).

    Each case solves the 2x2 linear system {x_t = alpha x0 + sigma eps, out = target(kind, x0, eps)}:
    eps needs alpha > 0 (no information about x0 at pure noise), x0 needs sigma > 0, v always works
    (its determinant is alpha^2 + sigma^2), velocity needs alpha sigma' - sigma alpha' != 0.
    """
    a, s = c.alpha, c.sigma
    if kind == "eps":
        return (x_t - s * out) / a, out
    if kind == "x0":
        return out, (x_t - a * out) / s
    if kind == "v":
        norm = a ** 2 + s ** 2
        return (a * x_t - s * out) / norm, (s * x_t + a * out) / norm
    if kind == "velocity":
        if c.d_alpha is None:
            raise ValueError("a velocity prediction needs a continuous-time path (method 'flow')")
        det = a * c.d_sigma - s * c.d_alpha
        return (c.d_sigma * x_t - s * out) / det, (a * out - c.d_alpha * x_t) / det
    raise ValueError(f"unknown prediction {kind!r}; expected one of {list(PREDICTIONS)}")


def convert(out: torch.Tensor, x_t: torch.Tensor, c: Coefficients, source: str, to: str) -> torch.Tensor:
    """A ``source`` prediction re-expressed as a ``to`` prediction at the same x_t; (B, C, H, W)."""
    return target(to, *split(source, out, x_t, c), c)


def score(eps: torch.Tensor, c: Coefficients) -> torch.Tensor:
    """grad_x log p_t(x_t) = -eps / sigma_t, for the eps implied by a prediction (Tweedie's formula)."""
    return -eps / c.sigma


class NoiseFrom(torch.nn.Module):
    """A network trained on a DDPM chain to predict ``kind`` (x0 or v), seen as a noise predictor.

    Every DDPM sampler takes eps; this wrapper converts the network's output at each call with
    :func:`split`, using alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t) at the model
    timestep t (B,) in 0..T-1 of the full chain (respaced chains hand the model its original
    timesteps, so the same table serves them). Guidance mixes predictions linearly with weights that
    sum to one, so guiding the eps it returns is guiding x0 or v. Keeps ``num_classes``,
    ``in_channels`` and ``image_size``. x_t (B, C, H, W), t (B,), labels (B,) or None -> eps (B, C, H, W).
    """

    def __init__(self, net: torch.nn.Module, kind: str, alpha_bar: torch.Tensor):
        super().__init__()
        if kind not in ("x0", "v"):
            raise ValueError(f"NoiseFrom converts x0 or v predictions, got {kind!r} (an eps network needs no wrapper)")
        self.net, self.kind = net, kind
        self.register_buffer("alpha_bar", alpha_bar.detach().float().clone(), persistent=False)
        self.num_classes = getattr(net, "num_classes", None)
        self.conditional = getattr(net, "conditional", self.num_classes is not None)
        self.text_encoder = getattr(net, "text_encoder", None)
        self.in_channels, self.image_size = getattr(net, "in_channels", None), getattr(net, "image_size", None)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.net(x_t, t) if labels is None else self.net(x_t, t, labels)
        ab = self.alpha_bar.to(x_t.device)[t].view(-1, *([1] * (x_t.ndim - 1)))
        return split(self.kind, out, x_t, Coefficients(ab.sqrt(), (1 - ab).sqrt()))[1]
