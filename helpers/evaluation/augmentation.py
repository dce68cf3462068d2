"""Generated images as training data, measured by Classification Accuracy Score.

Classification Accuracy Score (CAS, Ravuri & Vinyals 2019): train a classifier on
*generated* images only, with the labels they were generated for, and test it on the
*real* test set. A model whose samples are sharp but wrong for their label, or that
covers only part of each class, scores low, whatever its FID.

Every training here runs the course's classifier recipe
(:mod:`helpers.evaluation.classifier`) for the same number of optimiser steps as the
recipe takes on full MNIST (5 epochs of 60,000 images: 2,345 steps of 128), so a
100-image training set is passed over many times rather than five.
"""
from __future__ import annotations

import dataclasses
import math
import time

import torch

from ..data import ImageSet
from .classifier import ClassifierConfig, accuracy, train_classifier

FULL_STEPS = 5 * math.ceil(60_000 / 128)     # the recipe's steps on full MNIST: 2,345


def matched_config(n: int, config: ClassifierConfig | None = None, steps: int = FULL_STEPS) -> ClassifierConfig:
    """The classifier recipe with its epochs set so that ``n`` training images take about ``steps`` steps."""
    config = config or ClassifierConfig()
    if n < 1:
        raise ValueError(f"a training set needs at least one image, got {n}")
    per_epoch = math.ceil(n / config.batch_size)
    return dataclasses.replace(config, epochs=max(1, round(steps / per_epoch)))


def per_class_subset(data: ImageSet, per_class: int, seed: int = 0) -> ImageSet:
    """``per_class`` images of every class of ``data``, drawn at random with ``seed``.

    Returns an :class:`ImageSet` of K * per_class images (K classes), class after class.
    """
    generator = torch.Generator().manual_seed(seed)
    picks = []
    for k in range(len(data.class_names)):
        members = torch.nonzero(data.labels == k).flatten()
        if len(members) < per_class:
            raise ValueError(f"class {k} has {len(members)} images, fewer than the {per_class} asked for")
        picks.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    idx = torch.cat(picks)
    return ImageSet(data.images[idx], data.labels[idx], f"{per_class} per class of {data.source}",
                    data.class_names, "", True)


def combine(*sets: ImageSet) -> ImageSet:
    """One training set holding every image of ``sets`` (same image shape and classes)."""
    if len({tuple(s.images.shape[1:]) for s in sets}) != 1:
        raise ValueError("cannot combine image sets of different image shapes: "
                         f"{[tuple(s.images.shape[1:]) for s in sets]}")
    return ImageSet(torch.cat([s.images for s in sets]), torch.cat([s.labels for s in sets]),
                    " + ".join(s.source for s in sets), sets[0].class_names, "", True)


def classification_accuracy_score(train: ImageSet, test: ImageSet, config: ClassifierConfig | None = None,
                                  steps: int = FULL_STEPS, device: torch.device | str = "cpu",
                                  progress: bool = False) -> dict:
    """Train the classifier recipe on ``train`` for about ``steps`` steps; its accuracy on ``test``.

    train, test: :class:`ImageSet` of (N, 1, 28, 28) images in [-1, 1]. Returns
    ``accuracy``, ``train_images``, ``epochs``, ``steps`` and ``seconds`` (training time).
    """
    config = matched_config(len(train), config, steps)
    start = time.monotonic()
    model = train_classifier(config, train, device, progress)
    seconds = time.monotonic() - start
    return {"accuracy": round(accuracy(model, test), 5), "train_images": len(train), "epochs": config.epochs,
            "steps": config.epochs * math.ceil(len(train) / config.batch_size), "seconds": round(seconds, 1)}
