"""The committed models: they load, say where they came from, and still draw good digits.

The accuracy check is a regression test of the sampling code as much as of the weights: any
bug in the schedule, the DDIM step, guidance or label handling drops it far below 95%.
"""
import json
from pathlib import Path

import pytest
import torch

from helpers.device import make_generator
from helpers.evaluation.classifier import load_classifier
from helpers.evaluation.metrics import classify, label_accuracy
from helpers.io import load_model
from helpers.sampling import sample

MODELS = Path(__file__).resolve().parents[1] / "models"
REFERENCE = MODELS / "ddpm_reference.pt"
# finished models measured against the reference before they may replace it (models/candidates/)
FINISHED = [REFERENCE, *sorted((MODELS / "candidates").glob("*.pt"))]


@pytest.mark.parametrize("path", FINISHED, ids=lambda p: p.name)
def test_reference_checkpoint_is_small_and_documented(path):
    assert path.stat().st_size <= 10 * 2 ** 20
    info = json.loads(path.with_suffix(".json").read_text())
    for key in ("command", "config", "steps", "wall_time_min", "hardware", "parameters"):
        assert key in info, f"provenance lacks {key!r}"
    assert info["config"]["num_classes"] == 10 and info["steps"] > 0
    assert not info.get("resumable", False), "a finished model is committed slim (no optimiser state)"


@pytest.mark.parametrize("path", FINISHED, ids=lambda p: p.name)
def test_reference_draws_digits_the_classifier_reads_as_their_labels(path):
    model, diffusion, config = load_model(path)
    assert config.conditional and config.T == 300
    labels = torch.arange(100) % 10
    images = sample(model, diffusion, 100, labels, guidance=2.0, generator=make_generator(0), sampler="ddim:25")
    accuracy = label_accuracy(classify(load_classifier(), images), labels)
    assert accuracy >= 0.95, f"guided accuracy of {path.name} fell to {accuracy:.0%}"
