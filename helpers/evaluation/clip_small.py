"""The small CLIP's reading of digits: zero-shot classes, attributes, and a CLIP score for generated digits.

The interface follows :mod:`helpers.evaluation.clip` (OpenAI's CLIP through open_clip), with the
course's own model (:mod:`helpers.clip_small`, trained by ``python -m experiments.train_clip``):

- **zero-shot accuracy**: share of images whose most similar class caption
  ("the digit zero" ... "the digit nine") is their label.
- **CLIP score** of a set of images: for each image, the softmax over the ten class captions'
  scaled similarities, taken at its own class; averaged over the set (1: every image agrees
  with its caption and with no other). The **margin** is the cosine similarity to its own
  caption minus the best other one.
- **attribute AUC**: how well "a thick four" minus "a thin four" (for each image's own class)
  ranks the digits measured thick above those measured thin; 0.5 is chance, 1 perfect.
"""
from __future__ import annotations

import torch

from ..captions import BINS, CLASS_TEMPLATE, DIGIT_WORDS, attribute_prompt, class_prompts, fill
from ..clip_small import SmallClip
from ..device import make_generator
from ..tokenizer import encode_batch


@torch.no_grad()
def embed_texts(model: SmallClip, texts: list[str], batch_size: int = 2048) -> torch.Tensor:
    """Unit text embeddings (K, D) of K captions."""
    parts = [model.encode_text(encode_batch(texts[lo:lo + batch_size])) for lo in range(0, len(texts), batch_size)]
    return torch.cat(parts)


@torch.no_grad()
def embed_images(model: SmallClip, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Unit image embeddings (N, D) of images (N, 1, 28, 28) in [-1, 1]."""
    if images.ndim != 4 or images.shape[1:] != (1, 28, 28):
        raise ValueError(f"the small CLIP reads grey 28 x 28 images (N, 1, 28, 28), got {tuple(images.shape)}")
    device = next(model.parameters()).device
    return torch.cat([model.encode_image(images[lo:lo + batch_size].float().to(device)).cpu()
                      for lo in range(0, len(images), batch_size)])


def similarities(model: SmallClip, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
    """Cosine similarities (N, K) of N images with K captions."""
    return embed_images(model, images) @ embed_texts(model, texts).cpu().T


def class_probabilities(model: SmallClip, images: torch.Tensor, template: str = CLASS_TEMPLATE) -> torch.Tensor:
    """Softmax (N, 10) over the ten class captions of the scaled similarities."""
    return (float(model.logit_scale().detach()) * similarities(model, images, class_prompts(template))).softmax(dim=1)


def zero_shot_accuracy(model: SmallClip, images: torch.Tensor, labels: torch.Tensor,
                       template: str = CLASS_TEMPLATE) -> float:
    """Share of images (N, 1, 28, 28) whose most similar class caption is their label (N,)."""
    return float((similarities(model, images, class_prompts(template)).argmax(dim=1) == labels).float().mean())


def clip_scores(model: SmallClip, images: torch.Tensor, labels: torch.Tensor, template: str = CLASS_TEMPLATE) -> dict:
    """CLIP score, margin and zero-shot accuracy of images (N, 1, 28, 28) against labels (N,)."""
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), one per image, got {tuple(labels.shape)}")
    sim = similarities(model, images, class_prompts(template))
    probs = (float(model.logit_scale().detach()) * sim).softmax(dim=1)
    own = sim.gather(1, labels.view(-1, 1)).squeeze(1)
    other = sim.scatter(1, labels.view(-1, 1), float("-inf")).max(dim=1).values
    return {"n": len(images), "clip_score": float(probs.gather(1, labels.view(-1, 1)).mean()),
            "clip_margin": float((own - other).mean()),
            "zero_shot_accuracy": float((sim.argmax(dim=1) == labels).float().mean())}


def auc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """Area under the ROC curve of scores (N,) for positive (N,) bool: the chance that a random
    positive scores above a random negative (ties count half), from the ranks (Mann-Whitney U)."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"AUC needs positives and negatives, got {n_pos} and {n_neg}")
    _, inverse, counts = torch.unique(scores.double(), return_inverse=True, return_counts=True)
    ranks = (counts.cumsum(0) - (counts - 1) / 2)[inverse]                # 1-based, ties share their mean rank
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def attribute_auc(model: SmallClip, images: torch.Tensor, labels: torch.Tensor, codes: torch.Tensor,
                  attribute: str, positive: str, negative: str) -> dict:
    """AUC of sim("a <positive> <digit>") - sim("a <negative> <digit>"), each image's own digit, over the
    images whose bin codes (N, 3) put them in ``positive`` or ``negative`` of ``attribute``."""
    column, bins = list(BINS).index(attribute), BINS[attribute]
    keep = (codes[:, column] == bins.index(positive)) | (codes[:, column] == bins.index(negative))
    texts = [attribute_prompt(k, b) for k in range(10) for b in (positive, negative)]
    sim = similarities(model, images[keep], texts).view(-1, 10, 2)
    own = sim[torch.arange(int(keep.sum())), labels[keep]]                 # (n, 2)
    return {"n": int(keep.sum()), "auc": auc(own[:, 0] - own[:, 1], codes[keep, column] == bins.index(positive))}


def attribute_accuracy(model: SmallClip, images: torch.Tensor, labels: torch.Tensor, codes: torch.Tensor,
                       attribute: str, template: str = "a {before} {digit}", only: str | None = None) -> float:
    """Share of images with a word for ``attribute`` (``only``: in that bin) whose most similar caption
    of their digit, among the attribute's bins, is their own bin."""
    column, bins = list(BINS).index(attribute), BINS[attribute]
    keep = codes[:, column] >= 0 if only is None else codes[:, column] == bins.index(only)
    texts = [attribute_prompt(k, b, template) for k in range(10) for b in bins]
    sim = similarities(model, images[keep], texts).view(-1, 10, len(bins))
    own = sim[torch.arange(int(keep.sum())), labels[keep]]
    return float((own.argmax(dim=1) == codes[keep, column]).float().mean())


def template_accuracy(model: SmallClip, images: torch.Tensor, labels: torch.Tensor, codes: torch.Tensor,
                      template: str, seed: int = 0) -> float:
    """Zero-shot accuracy with captions of ``template`` that also say each image's attributes.

    Image i is compared with ten captions, one per digit, all with its own attribute words
    (the same synonyms for the ten, drawn with a generator seeded by ``seed`` + i).
    """
    texts = []
    for i, row in enumerate(codes.tolist()):
        said = [BINS[a][c] for a, c in zip(BINS, row) if c >= 0]
        texts += [fill(template, word, said, make_generator(seed + i)) for word in DIGIT_WORDS]
    img = embed_images(model, images)
    txt = embed_texts(model, texts).cpu().view(len(images), 10, -1)
    return float(((txt @ img.unsqueeze(2)).squeeze(2).argmax(dim=1) == labels).float().mean())
