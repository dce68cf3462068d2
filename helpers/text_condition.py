"""Captions as the condition of a DDPM: the frozen small CLIP's text encoder, training captions, prompts.

A text-conditioned U-Net (``Config.condition = "text"``) is told what to draw by a caption's
embedding: the unit vector (64 numbers) that the small CLIP (:mod:`helpers.clip_small`) gives
it. The CLIP stays frozen: it runs under ``no_grad``, is never handed to the optimiser and is
not saved in the U-Net's checkpoint; the checkpoint records which CLIP file (its path in the
config, its SHA-256 beside it) and refuses to load with another.

Training captions come from :mod:`helpers.captions` with each digit's measured thickness,
slant and size, through the training templates only, never saying a held-out attribute-class
pair (a thick 4, a left-slanted 7).
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import torch

from . import captions, tokenizer
from .io import ROOT, CheckpointError
from .morphometry import ATTRIBUTES, DigitAttributes, load_attributes, measure
from .unet import TEXT_DIM

DIGIT_NAMES = {**{w: i for i, w in enumerate(captions.DIGIT_WORDS)}, **{str(i): i for i in range(10)}}


def clip_path(name: str) -> Path:
    """``name`` as given when it exists, else relative to the course's root (where models/ is)."""
    path = Path(name).expanduser()
    return path if path.is_absolute() or path.exists() else ROOT / path


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class TextEncoder:
    """The frozen small CLIP's text side: ``encoder(prompts) -> (n, 64)`` unit vectors on the CPU.

    Not a ``torch.nn.Module`` on purpose: set as an attribute of a U-Net it stays out of the
    U-Net's parameters, optimiser and state dict. ``sha256``: the CLIP file it was read from.
    """

    def __init__(self, clip: torch.nn.Module, name: str, sha256: str):
        self.clip, self.name, self.sha256 = clip.eval().requires_grad_(False), name, sha256

    @torch.no_grad()
    def __call__(self, prompts: list[str]) -> torch.Tensor:
        return self.clip.encode_text(tokenizer.encode_batch(list(prompts)))


def load_text_encoder(name: str, expect_sha256: str | None = None) -> TextEncoder:
    """The CLIP file ``name`` (see :func:`clip_path`) as a :class:`TextEncoder`; a one-line
    :class:`CheckpointError` when its SHA-256 is not ``expect_sha256`` (the file the model was trained with)."""
    from .clip_train import load_small_clip      # helpers.clip_train imports the training loop's modules
    path = clip_path(name)
    if not path.is_file():
        raise CheckpointError(f"the text model's CLIP file {name} was not found (looked at {path})")
    digest = file_sha256(path)
    if expect_sha256 is not None and digest != expect_sha256:
        raise CheckpointError(f"{path} is not the CLIP this model was trained with (SHA-256 {digest[:12]}..., "
                              f"expected {expect_sha256[:12]}...): restore that file or retrain")
    clip = load_small_clip(path)
    if clip.config.embed_dim != TEXT_DIM:
        raise CheckpointError(f"{path} embeds text in {clip.config.embed_dim} numbers; the U-Net takes {TEXT_DIM}")
    return TextEncoder(clip, name, digest)


def check_prompts(prompts: list[str]) -> None:
    """One clear ValueError for a prompt the model cannot read: empty, an unknown word (the
    tokenizer's message), or naming no digit, or two different ones (every training caption names one)."""
    if isinstance(prompts, str) or not len(prompts):
        raise ValueError(f"prompts must be a non-empty list of strings, got {prompts!r}")
    for prompt in prompts:
        tokenizer.encode(prompt)
        digits = {DIGIT_NAMES[w] for w in tokenizer.split_words(prompt) if w in DIGIT_NAMES}
        if len(digits) != 1:
            what = "names no digit" if not digits else f"names {len(digits)} different digits"
            raise ValueError(f"prompt {prompt!r} {what}; the model learned captions of one digit, e.g. 'a thick seven'")


def prompt_embeddings(encoder: TextEncoder, prompts: list[str], n: int) -> torch.Tensor:
    """Embeddings (n, 64) of ``prompts`` (checked, then repeated in turn to fill n images)."""
    check_prompts(prompts)
    if len(prompts) > n:
        raise ValueError(f"{len(prompts)} prompts were given for {n} images; give at most {n} "
                         "(fewer are repeated in turn to fill all of them)")
    return encoder(prompts)[torch.arange(n) % len(prompts)]


@lru_cache(maxsize=1)
def _training_digits() -> tuple[DigitAttributes, captions.Bins]:
    """The committed measurements of the 60,000 training digits and the caption bins fitted to them."""
    train = load_attributes().split(True)
    return train, captions.fit_bins(train)


def attribute_codes(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Bin codes (N, 3) (:func:`helpers.captions.assign_bins`) of digits (N, 1, 28, 28), labels (N,), with the
    bins of the 60,000 training digits: the committed measurements when these are those digits, else measured."""
    train, bins = _training_digits()
    if len(labels) == len(train.labels) and torch.equal(labels.cpu(), train.labels):
        attrs = train
    else:
        measured = measure(images.cpu())
        attrs = DigitAttributes(torch.stack([measured[a] for a in ATTRIBUTES], 1), labels.cpu(), len(labels))
    return captions.assign_bins(attrs, bins)


class TrainingCaptions:
    """Caption embeddings of training batches: ``(labels (B,), idx (B,), generator) -> (B, 64)``.

    ``codes`` (N, 3): the bin codes of every training image (:func:`attribute_codes`); the
    captions of a batch are drawn with a CPU generator seeded by one draw of ``generator`` (the
    training generator, so a resumed run draws the same captions).
    """

    def __init__(self, encoder: TextEncoder, codes: torch.Tensor):
        self.encoder, self.codes = encoder, codes

    def texts(self, labels: torch.Tensor, idx: torch.Tensor, generator: torch.Generator) -> list[str]:
        seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
        return captions.captions(labels.cpu(), self.codes[idx.cpu()], torch.Generator().manual_seed(seed),
                                 templates=captions.TRAIN_TEMPLATES, held_out_pairs=captions.HELD_OUT_PAIRS)

    def __call__(self, labels: torch.Tensor, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.encoder(self.texts(labels, idx, generator)).to(labels.device)
