"""experiments.autoguidance: the guidance mix reduces to its parts, and scores end to end."""
import pytest
import torch

from experiments import autoguidance
from helpers.sampling import Autoguided, eps_model
from helpers.schedule import diffusion_from_config
from tests.tiny import tiny_config, tiny_model


def test_autoguidance_mix_reduces_to_its_parts(judge):
    """wa = 1 is classifier-free guidance with w = wc; wc = 1 is autoguidance alone; both run end to end."""
    classifier, real = judge
    config = tiny_config(num_classes=10)
    model, guide = tiny_model(config, seed=0), tiny_model(config, seed=1)
    x, t, y = torch.randn(4, 1, 28, 28), torch.tensor([9, 5, 1, 0]), torch.tensor([0, 3, 7, 9])
    with torch.no_grad():
        cfg = Autoguided(model, guide, 1.0, guidance=1.5)(x, t, y)
        torch.testing.assert_close(cfg, eps_model(model, y, 1.5)(x, t))
        ag = Autoguided(model, guide, 3.0)(x, t, y)
        torch.testing.assert_close(ag, 3 * model(x, t, y) - 2 * guide(x, t, y))
        assert not torch.allclose(ag, model(x, t, y))
    with pytest.raises(ValueError, match="the guide must take the model's inputs"):
        Autoguided(model, tiny_model(tiny_config(num_classes=None)), 2.0)
    r = autoguidance.score_mix(model, guide, diffusion_from_config(config), classifier, real, 20, 1.25, 2.0, steps=3)
    assert (r["wc"], r["wa"], r["n"]) == (1.25, 2.0, 20) and 0 <= r["accuracy"] <= 1 and r["fid_over_floor"] > 0
    assert autoguidance.parse_mix("1.25,2") == (1.25, 2.0)
