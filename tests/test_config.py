"""The configuration: defaults, the student report's settings, validation, old names."""
import pytest

import torch

from helpers.config import Config, config_for_dataset
from helpers.schedule import diffusion_from_config
from helpers.train import learning_rate
from tests.tiny import tiny_config


@pytest.mark.parametrize("field, value, message", [
    ("ema_decay", 1.5, r"ema_decay must be in \(0, 1\) or none, got 1.5"),
    ("min_snr_gamma", 0.0, r"min_snr_gamma must be positive or none, got 0.0"),
    ("schedule", "quadratic", r"unknown schedule 'quadratic'; expected one of \['linear', 'rescaled_linear', 'cosine'\]"),
    ("schedule", "scaled_linear", r"unknown schedule 'scaled_linear' \(renamed 'rescaled_linear'\)"),
    ("T", 1, "T must be at least 2, got 1"),
    ("timesteps", "edm", r"unknown timesteps 'edm'; expected one of \['uniform', 'lognormal', 'logit_normal'\]"),
    ("channel_mults", (1, 0), r"channel_mults must be positive"),
])
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**{field: value})


def test_student_report_config_trains_as_the_report_did():
    """A constant learning rate from the first step, Ho et al.'s betas (1e-4 to 0.02 in equal steps),
    no labels; overrides win."""
    report, default = Config.student_report(), Config()
    assert {learning_rate(report, s, s / 1000) for s in (0, 500, 999)} == {report.lr}
    assert learning_rate(default, 0, 0.0) < default.lr                   # the default warms up
    betas = diffusion_from_config(report).betas
    assert torch.allclose(betas, torch.linspace(1e-4, 0.02, report.T))
    assert not torch.allclose(diffusion_from_config(default).betas, torch.linspace(1e-4, 0.02, default.T))
    assert report.num_classes is None and report.ema_decay is None and default.num_classes == 10
    assert Config.student_report(batch_size=32).replace(batch_size=report.batch_size) == report


def test_round_trip_and_old_schedule_name():
    config = Config(channel_mults=(1, 2, 4), num_classes=None)
    assert Config.from_dict(config.to_dict()) == config
    assert Config.from_dict({**config.to_dict(), "schedule": "scaled_linear"}).schedule == "rescaled_linear"
    with pytest.raises(ValueError, match=r"unknown fields \['colour'\]"):
        Config.from_dict({**config.to_dict(), "colour": "blue"})


def test_dataset_sets_the_image_shape_and_classes():
    assert config_for_dataset("fashion").dataset == "fashion"
    assert config_for_dataset("mnist", num_classes=None).num_classes is None
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        config_for_dataset("cifar")
