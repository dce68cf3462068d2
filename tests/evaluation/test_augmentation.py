"""Classification Accuracy Score: step-matched recipe, per-class subsets, combined sets."""
import pytest
import torch

from helpers.data import ImageSet
from helpers.evaluation.augmentation import (FULL_STEPS, classification_accuracy_score, combine, matched_config,
                                             per_class_subset)


def test_the_recipe_takes_the_same_number_of_steps_whatever_the_set_size():
    assert FULL_STEPS == 2345
    assert matched_config(60_000).epochs == 5
    assert matched_config(100).epochs == 2345             # one batch per epoch
    assert matched_config(1_000).epochs == round(2345 / 8)
    with pytest.raises(ValueError, match="at least one image"):
        matched_config(0)


def test_per_class_subsets_hold_that_many_of_each_class(tiny_data):
    few = per_class_subset(tiny_data, 3, seed=0)
    assert len(few) == 30 and torch.equal(torch.bincount(few.labels), torch.full((10,), 3))
    assert torch.equal(few.images, per_class_subset(tiny_data, 3, seed=0).images)
    assert not torch.equal(few.images, per_class_subset(tiny_data, 3, seed=1).images)
    with pytest.raises(ValueError, match="fewer than the 7 asked for"):
        per_class_subset(tiny_data, 7)


def test_combined_sets_keep_every_image(tiny_data):
    both = combine(tiny_data, per_class_subset(tiny_data, 2))
    assert len(both) == 84 and torch.equal(both.images[:64], tiny_data.images)
    odd = ImageSet(torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.long), "x", tiny_data.class_names)
    with pytest.raises(ValueError, match="different image shapes"):
        combine(tiny_data, odd)


def test_a_classifier_trained_on_learnable_images_scores_on_held_out_ones():
    """Two classes that differ in brightness: a few steps learn them, and CAS reports it."""
    g = torch.Generator().manual_seed(0)

    def make(n):
        labels = torch.arange(n) % 2
        images = (labels.view(-1, 1, 1, 1) * 1.2 - 0.6 + 0.2 * torch.randn(n, 1, 28, 28, generator=g)).clamp(-1, 1)
        return ImageSet(images, labels, "bright/dark", ("dark", "bright"))
    result = classification_accuracy_score(make(256), make(200), steps=30)
    assert result["accuracy"] > 0.9 and result["train_images"] == 256 and result["steps"] == 30
