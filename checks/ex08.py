"""Notebook 08's exercises: write CLIP's symmetric contrastive loss, measure a stroke's thickness
from its area and skeleton, and compute a retrieval AUC from two lists of scores."""
from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from helpers.clip_small import contrastive_loss
from helpers.data import fallback_digits
from helpers.evaluation.clip_small import auc
from helpers.morphometry import binarise, measure, skeleton

from .core import NotYet, as_float, as_tensor_like, call, close, exercise, first_match, generator, type_name

TOL = 1e-4


def _as_scalar_tensor(value, what: str) -> torch.Tensor:
    """``value`` as a one-element float tensor (a tensor or a Python number), else NotYet."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
        out = value.detach().reshape(())
    elif isinstance(value, torch.Tensor):
        raise NotYet(f"{what} should be one number (a scalar tensor), got {type_name(value)}: "
                     "average over the batch")
    else:
        out = torch.tensor(as_float(value, what))
    if not torch.isfinite(out):
        raise NotYet(f"{what} is inf or nan: look for a log of zero or a division by zero")
    return out


def _logit_cases() -> list[torch.Tensor]:
    """Square logits (B, B) of a few sizes, scaled as a trained CLIP's are (up to about 20)."""
    g = generator()
    return [torch.randn(B, B, generator=g) * scale for B, scale in ((4, 1.0), (8, 10.0), (16, 20.0), (2, 3.0))]


@exercise("08.1", "write the body of my_contrastive_loss so that it returns the loss, a scalar tensor "
                  "(it returns None now)")
def contrastive(answer) -> str:
    """Against helpers.clip_small.contrastive_loss on random square logits of four sizes."""
    for logits in _logit_cases():
        out = call(answer, logits.clone(), name="a function my_contrastive_loss(logits)")
        got, want = _as_scalar_tensor(out, "my_contrastive_loss's answer"), contrastive_loss(logits)
        if close(got, want, TOL):
            continue
        target = torch.arange(len(logits))
        rows, cols = F.cross_entropy(logits, target), F.cross_entropy(logits.T, target)
        mistakes = {
            "that is only the images' half (each row picks its caption); average it with the captions' half, "
            "in which each column picks its image": rows.view(1),
            "that is only the captions' half (each column picks its image); average it with the images' half, "
            "in which each row picks its caption": cols.view(1),
            "the two halves are right, but the loss is their mean, not their sum": (rows + cols).view(1),
            "the sign is reversed: the loss is minus the log-probability of the matching pair": (-(rows + cols) / 2).view(1),
            "you summed over the batch: the loss averages each half over its B pairs":
                ((rows + cols) / 2 * len(logits)).view(1),
            "the matching pairs are on the diagonal, so the target of row i is i, not 0":
                ((F.cross_entropy(logits, torch.zeros_like(target)) + F.cross_entropy(logits.T, torch.zeros_like(target))) / 2).view(1),
        }
        hint = first_match(got.view(1), mistakes, TOL)
        raise NotYet(hint or f"for B = {len(logits)} your loss is {float(got):.4g}, expected {float(want):.4g}: "
                             "take the cross-entropy of the rows and of the columns against the diagonal, and average")
    return (f"my_contrastive_loss matches helpers.clip_small.contrastive_loss (within {TOL:g}) on random logits "
            "of four batch sizes")


@lru_cache(maxsize=1)
def _masks() -> torch.Tensor:
    """Ink masks (40, 28, 28) bool of real digits: the package's shipped digits, four of each class."""
    data = fallback_digits(train=True)
    pick = torch.cat([(data.labels == k).nonzero()[:4, 0] for k in range(10)])
    return binarise(data.images[pick])


@exercise("08.2", "write the body of my_thickness so that it returns a float tensor (N,), one thickness "
                  "per mask (it returns None now)")
def thickness(answer) -> str:
    """Against helpers.morphometry.measure's thickness on 40 real digits."""
    masks = _masks()
    out = call(answer, masks.clone(), name="a function my_thickness(mask)")
    want = measure(masks.unsqueeze(1).float() * 2 - 1)["thickness"]
    if isinstance(out, torch.Tensor) and out.is_floating_point() and out.dtype != want.dtype:
        out = out.to(want.dtype)
    got = as_tensor_like(out, want, "my_thickness's answer", " (one thickness per digit)")
    if close(got, want, TOL):
        return f"my_thickness matches helpers.morphometry.measure on 40 real digits (from {float(want.min()):.2f} " \
               f"to {float(want.max()):.2f} pixels)"
    area = masks.sum(dim=(1, 2)).float()
    length = skeleton(masks).sum(dim=(1, 2)).float()
    mistakes = {
        "that is length / area, upside down: thickness is the ink's area over the skeleton's length": length / area,
        "that is the ink's area alone: divide it by the length of the skeleton": area,
        "that is the skeleton's length alone: thickness is the ink's area over it": length,
        "divide by the skeleton's length (its pixel count), not by the whole image's pixel count":
            area / (masks.shape[1] * masks.shape[2]),
        "that is area / (area - length); the skeleton's length itself is the divisor": area / (area - length).clamp(min=1),
    }
    hint = first_match(got, mistakes, TOL)
    raise NotYet(hint or f"your thicknesses are off by up to {float((got - want).abs().max()):.3g} pixels: count the "
                         "ink pixels, count the skeleton's pixels (helpers.morphometry.skeleton), and divide")


def _auc_cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(description, positive scores, negative scores): continuous scores, and scores with many ties."""
    g = generator()
    return [("random scores", torch.randn(50, generator=g) + 1, torch.randn(70, generator=g)),
            ("scores with ties", torch.randint(0, 5, (40,), generator=g).float(),
             torch.randint(0, 4, (30,), generator=g).float()),
            ("a perfect ranking", torch.tensor([3.0, 4.0, 5.0]), torch.tensor([0.0, 1.0])),
            ("all tied", torch.ones(4), torch.ones(6))]


def _reference_auc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    return auc(torch.cat([pos, neg]), torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).bool())


@exercise("08.3", "write the body of my_auc so that it returns a float, the AUC of the two lists of scores "
                  "(it returns None now)")
def retrieval_auc(answer) -> str:
    """Against helpers.evaluation.clip_small.auc on four pairs of score lists, two of them with ties."""
    for name, pos, neg in _auc_cases():
        got = as_float(call(answer, pos.clone(), neg.clone(), name="a function my_auc(positive, negative)"),
                       "my_auc's answer")
        want = _reference_auc(pos, neg)
        if abs(got - want) <= TOL:
            continue
        above, ties = (pos[:, None] > neg[None, :]).double().mean(), (pos[:, None] == neg[None, :]).double().mean()
        at = f"on {name} you return {got:.4g}, expected {want:.4g}"
        if abs(got - (1 - want)) <= TOL:
            raise NotYet(f"{at}: that is 1 - AUC, the chance that a negative scores above a positive")
        if abs(got - float(above)) <= TOL:
            raise NotYet(f"{at}: a tie between a positive and a negative counts as half a win")
        if abs(got - float(above + ties)) <= TOL:
            raise NotYet(f"{at}: a tie between a positive and a negative counts as half a win, not a whole one")
        raise NotYet(f"{at}: compare every positive with every negative and count the share of pairs the "
                     "positive wins (ties count half)")
    return "my_auc agrees with helpers.evaluation.clip_small.auc on four pairs of score lists, two of them with ties"
