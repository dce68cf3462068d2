"""Words to numbers for the small CLIP: a word-level vocabulary built from the caption templates.

Text is lower-cased and cut into words and single digits ("left-leaning 7," -> "left",
"leaning", "7"); punctuation is dropped. Every word of every template, synonym and digit name
(:mod:`helpers.captions`) is in the vocabulary, and nothing else: a word the model never saw
raises a one-line error naming it and the nearest known words.
"""
from __future__ import annotations

import difflib
import re

import torch

from . import captions

PAD = "<pad>"
CONTEXT = 24               # the longest caption, in tokens
_WORD = re.compile(r"[a-z]+|[0-9]")


def split_words(text: str) -> list[str]:
    """Lower-cased words and single digits of ``text``, punctuation dropped."""
    return _WORD.findall(text.lower())


def _caption_texts() -> list[str]:
    texts = [*captions.TRAIN_TEMPLATES, *captions.HELD_OUT_TEMPLATES, captions.CLASS_TEMPLATE, *captions.DIGIT_WORDS,
             "and"]                                              # joins the words said after the digit
    texts += [w for table in (captions.BEFORE, captions.AFTER) for options in table.values() for w in options]
    return [t.replace("{before}", " ").replace("{after}", " ").replace("{digit}", " ") for t in texts]


def build_vocabulary() -> tuple[str, ...]:
    """``<pad>`` (index 0), the numerals 0-9, then every caption word in alphabetical order."""
    words = {w for text in _caption_texts() for w in split_words(text)} - set("0123456789")
    return (PAD, *"0123456789", *sorted(words))


VOCABULARY = build_vocabulary()
INDEX = {word: i for i, word in enumerate(VOCABULARY)}


def encode(text: str) -> torch.LongTensor:
    """Token indices (L,) of ``text``, 1 <= L <= :data:`CONTEXT`; ValueError for an empty prompt,
    an unknown word (naming it and the nearest known words) or a prompt too long."""
    words = split_words(text)
    if not words:
        raise ValueError(f"empty prompt {text!r}: write a caption such as 'a thick seven'")
    for word in words:
        if word not in INDEX:
            near = difflib.get_close_matches(word, VOCABULARY[1:], n=3, cutoff=0.5) or ["(none close)"]
            raise ValueError(f"unknown word {word!r} in {text!r}; nearest known words: {', '.join(near)}")
    if len(words) > CONTEXT:
        raise ValueError(f"prompt of {len(words)} words is longer than the {CONTEXT} the model reads: {text!r}")
    return torch.tensor([INDEX[w] for w in words], dtype=torch.long)


def encode_batch(texts: list[str], length: int | None = None) -> torch.LongTensor:
    """Token indices (N, length) of ``texts``, padded with 0 (``<pad>``) on the right; ``length``
    None: the longest text's (padding changes no embedding, so shorter batches cost less)."""
    encoded = [encode(text) for text in texts]
    length = length or max((len(t) for t in encoded), default=1)
    out = torch.zeros(len(texts), length, dtype=torch.long)
    for i, tokens in enumerate(encoded):
        out[i, :min(len(tokens), length)] = tokens[:length]
    return out


def decode(tokens: torch.Tensor) -> str:
    """Token indices (L,) back to words joined by spaces, padding dropped."""
    return " ".join(VOCABULARY[int(i)] for i in tokens if int(i) != 0)
