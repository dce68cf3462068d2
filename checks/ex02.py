"""Notebook 02's exercises: count a convolution's parameters, say which image sizes a U-Net takes,
and measure what the skip connections cost."""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from helpers.unet import UNet, count_parameters

from .core import NotYet, as_int, call, exercise, generator, type_name


def _conv_cases() -> list[tuple[int, int, int]]:
    """(c_in, c_out, k): a few of the U-Net's own convolutions and random ones."""
    g = generator()
    rand = [(int(torch.randint(1, 65, (1,), generator=g)), int(torch.randint(1, 65, (1,), generator=g)),
             int(torch.randint(1, 8, (1,), generator=g))) for _ in range(5)]
    return [(1, 12, 3), (12, 24, 3), (48, 48, 1), (3, 7, 5)] + rand


@exercise("02.1", "write the body of conv_parameters so that it returns an int, the parameters of "
                  "nn.Conv2d(c_in, c_out, k) (it returns None now)")
def conv_parameters(answer) -> str:
    """Against count_parameters(nn.Conv2d(c_in, c_out, k)) on nine shapes."""
    for c_in, c_out, k in _conv_cases():
        got = as_int(call(answer, c_in, c_out, k, name="a function conv_parameters(c_in, c_out, k)"),
                     "conv_parameters's answer")
        want = count_parameters(nn.Conv2d(c_in, c_out, k))
        if got == want:
            continue
        at = f"for c_in = {c_in}, c_out = {c_out}, k = {k} you count {got}"
        if got == c_in * c_out * k * k:
            raise NotYet(f"{at}: the weights are right; a convolution also has one more number per output channel")
        if got == c_in * c_out * k + c_out:
            raise NotYet(f"{at}: a k x k kernel has k * k weights for each pair of input and output channels")
        if got in (c_in * k * k + c_out, c_out * k * k + c_out):
            raise NotYet(f"{at}: each output channel has its own kernel over every input channel")
        raise NotYet(f"{at}, {'too few' if got < want else 'too many'}: count the kernel's weights for one "
                     "output channel, then per output channel, then what each output channel adds")
    return "conv_parameters counts the weights and biases of nn.Conv2d on nine shapes"


@lru_cache(maxsize=None)
def unet_builds(image_size: int, levels: int) -> bool:
    """Whether UNet accepts ``image_size`` with ``levels`` resolution levels (it raises ValueError if not)."""
    try:
        UNet(1, image_size, 8, (1,) * levels)
    except ValueError:
        return False
    return True


def _size_cases() -> list[tuple[int, int]]:
    g = generator()
    sizes = [28, 32, 30, 12, 4] + torch.randint(3, 65, (8,), generator=g).tolist()
    return [(size, levels) for size in sizes for levels in (1, 2, 3, 4)]


@exercise("02.2", "write the body of fits so that it returns True or False: whether a U-Net with `levels` "
                  "resolution levels takes image_size x image_size images (it returns None now)")
def fits(answer) -> str:
    """Against whether UNet builds, for 13 sizes and 1 to 4 levels."""
    cases = _size_cases()
    for size, levels in cases:
        got = call(answer, size, levels, name="a function fits(image_size, levels)")
        if isinstance(got, torch.Tensor) and got.numel() == 1 and got.dtype == torch.bool:
            got = bool(got)
        if not isinstance(got, bool):
            raise NotYet(f"fits should return True or False, got {type_name(got)}")
        want = unet_builds(size, levels)
        if got != want:
            verb = "builds" if want else "refuses"
            raise NotYet(f"UNet {verb} {size} x {size} images with {levels} level{'s' * (levels > 1)}, but your "
                         f"function says {got}: follow the size down the levels; each level below the first halves it")
    return f"fits agrees with UNet on {len(cases)} pairs of image size and levels"


def _skip_cases() -> list[tuple[int, int, int, tuple[int, ...]]]:
    """(channels, image_size, base_channels, channel_mults): the course's U-Net and two others."""
    return [(1, 28, 12, (1, 2, 4)), (1, 28, 8, (1, 2)), (3, 32, 16, (1, 2, 2, 2))]


@exercise("02.3", "write the body of skip_cost so that it returns an int: the parameters of the U-Net "
                  "with skips minus those without (it returns None now)")
def skip_cost(answer) -> str:
    """Against the difference of two count_parameters, on three U-Nets."""
    for args in _skip_cases():
        got = as_int(call(answer, *args, name="a function skip_cost(channels, image_size, base_channels, "
                                                "channel_mults)"), "skip_cost's answer")
        with_skips, without = (count_parameters(UNet(*args, skip_connections=s)) for s in (True, False))
        want = with_skips - without
        if got == want:
            continue
        at = f"for UNet{args} you return {got}"
        if got == -want:
            raise NotYet(f"{at}: the sign is reversed (which of the two has more parameters?)")
        if got in (with_skips, without):
            raise NotYet(f"{at}: that is one model's whole count; the exercise asks for the difference")
        raise NotYet(f"{at}: build both models with these arguments and count each with count_parameters")
    return "skip_cost matches the two models' counts on three U-Nets, the course's among them"
