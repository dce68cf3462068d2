"""Captions for MNIST digits from their measured shape: "a thick, left-leaning seven", "7, thin and upright".

Each digit's measurements (:mod:`helpers.morphometry`) fall into bins set by quantiles of the
60,000 training digits: **thin / thick** (thickness below the 1/3 or above the 2/3 quantile),
**upright / slanted left / slanted right** (slant in the middle fifth, or below the 1/5 or above
the 4/5 quantile), **small / large** (bounding-box area below the 1/3 or above the 2/3 quantile of
digits of the same class, so that a "large 1" means large for a 1). A digit between bins has no
word for that attribute.

A caption names the digit (as a word or a numeral) and, each with probability 1/2, the
attributes it has a word for, through one of several templates and synonyms. Two kinds of
caption are kept out of training to test generalisation: the :data:`HELD_OUT_TEMPLATES`, and the
attribute-class pairs of :data:`HELD_OUT_PAIRS` (training never says "thick" of a 4 or "slanted
left" of a 7; those digits are still trained on, with that attribute left unsaid).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .morphometry import DigitAttributes

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# attribute -> its bins, in code order: bin code k of "slant" is BINS["slant"][k]
BINS = {"thickness": ("thin", "thick"), "slant": ("upright", "left", "right"), "size": ("small", "large")}
# words before the digit ("a bold seven") and after it ("seven, written boldly")
BEFORE = {"thin": ("thin", "light", "fine"), "thick": ("thick", "bold", "heavy"),
          "upright": ("upright", "straight"), "left": ("left-leaning", "left-slanted"),
          "right": ("right-leaning", "right-slanted"), "small": ("small", "little"), "large": ("large", "big")}
AFTER = {"thin": ("thin", "written thinly", "in a fine stroke"), "thick": ("thick", "written boldly", "in a heavy stroke"),
         "upright": ("upright", "standing straight"), "left": ("slanted left", "leaning left"),
         "right": ("slanted right", "leaning right"), "small": ("small", "written small"),
         "large": ("large", "written large")}
TRAIN_TEMPLATES = ("a {before} {digit}", "a {before} handwritten {digit}", "the digit {digit}, {after}",
                   "{digit}, {after}", "the number {digit}, {after}")
HELD_OUT_TEMPLATES = ("{before} {digit}", "the {before} digit {digit}", "a handwritten {digit}, {after}")
HELD_OUT_PAIRS = (("thick", 4), ("left", 7))
CLASS_TEMPLATE = "the digit {digit}"


@dataclass(frozen=True)
class Bins:
    """Quantile cut points: thickness (lo, hi), slant (lo, mid_lo, mid_hi, hi), size per class (10, 2)."""

    thickness: tuple[float, float]
    slant: tuple[float, float, float, float]
    size: torch.Tensor


def _box_area(attrs: DigitAttributes) -> torch.Tensor:
    return attrs.column("width") * attrs.column("height")


def fit_bins(train: DigitAttributes) -> Bins:
    """Cut points from the training digits' measurements (see the module docstring)."""
    q = lambda v, ps: tuple(float(x) for x in torch.quantile(v, torch.tensor(ps)))
    area = _box_area(train)
    size = torch.stack([torch.quantile(area[train.labels == k], torch.tensor([1 / 3, 2 / 3])) for k in range(10)])
    return Bins(q(train.column("thickness"), [1 / 3, 2 / 3]), q(train.column("slant"), [0.2, 0.4, 0.6, 0.8]), size)


def assign_bins(attrs: DigitAttributes, bins: Bins) -> torch.Tensor:
    """Bin codes (N, 3) of digits: columns thickness, slant, size as indices into :data:`BINS`; -1: no word."""
    thick, slant, area = attrs.column("thickness"), attrs.column("slant"), _box_area(attrs)
    none = torch.full_like(attrs.labels, -1)
    t = torch.where(thick < bins.thickness[0], 0, torch.where(thick > bins.thickness[1], 1, none))
    upright = (slant > bins.slant[1]) & (slant < bins.slant[2])
    s = torch.where(slant < bins.slant[0], 1, torch.where(slant > bins.slant[3], 2, torch.where(upright, 0, none)))
    lo, hi = bins.size[attrs.labels, 0], bins.size[attrs.labels, 1]
    z = torch.where(area < lo, 0, torch.where(area > hi, 1, none))
    return torch.stack([t, s, z], dim=1)


def _pick(options, generator: torch.Generator):
    return options[int(torch.randint(len(options), (1,), generator=generator))]


def digit_name(label: int, generator: torch.Generator) -> str:
    """The digit as a word ("seven") or a numeral ("7"), one or the other at random."""
    return _pick((DIGIT_WORDS[label], str(label)), generator)


def _join(words: list[str], last: str) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f"{last}{words[-1]}"


def fill(template: str, digit: str, said: list[str], generator: torch.Generator) -> str:
    """Template filled with the digit and the words (synonyms picked at random) of the bins in ``said``."""
    before = _join([_pick(BEFORE[b], generator) for b in said], ", ") if said else ""
    after = _join([_pick(AFTER[b], generator) for b in said], " and ") if said else ""
    if not said:                                   # nothing to say but the digit
        template = template.split(",")[0].replace("{before} ", "")
    return " ".join(template.format(digit=digit, before=before, after=after).split())


def caption(label: int, codes: torch.Tensor, generator: torch.Generator, templates=TRAIN_TEMPLATES,
            p_attribute: float = 0.5, held_out_pairs=HELD_OUT_PAIRS) -> str:
    """One caption for a digit of class ``label`` with bin codes (3,) (see :func:`assign_bins`).

    Each attribute with a word is said with probability ``p_attribute``, except the
    ``held_out_pairs`` (bin, label), which are never said.
    """
    said = []
    for attribute, code in zip(BINS, codes.tolist()):
        if code < 0:
            continue
        name = BINS[attribute][code]
        if (name, label) not in held_out_pairs and float(torch.rand(1, generator=generator)) < p_attribute:
            said.append(name)
    return fill(_pick(templates, generator), digit_name(label, generator), said, generator)


def captions(labels: torch.Tensor, codes: torch.Tensor, generator: torch.Generator, **kwargs) -> list[str]:
    """Captions for digits with labels (N,) and bin codes (N, 3); keywords as in :func:`caption`."""
    if codes.shape != (len(labels), len(BINS)):
        raise ValueError(f"codes must have shape ({len(labels)}, {len(BINS)}), got {tuple(codes.shape)}")
    return [caption(int(y), c, generator, **kwargs) for y, c in zip(labels, codes)]


def class_prompts(template: str = CLASS_TEMPLATE) -> list[str]:
    """The ten class captions, ``template`` filled with "zero" ... "nine"."""
    return [template.format(digit=word) for word in DIGIT_WORDS]


def attribute_prompt(label: int, bin_name: str, template: str = "a {before} {digit}") -> str:
    """A caption naming one bin of a digit's class with its first synonym: ("thick", 4) -> "a thick four"."""
    words = BEFORE if "{before}" in template else AFTER
    if bin_name not in words:
        raise ValueError(f"unknown bin {bin_name!r}; expected one of {sorted(words)}")
    return template.format(digit=DIGIT_WORDS[label], before=BEFORE[bin_name][0], after=AFTER[bin_name][0])
