"""Inputs that would be silently ignored are refused with one line: guidance without labels, more
labels than images, samplers that inpainting cannot step with."""
import pytest
import torch

from helpers.cli import main as cli_main
from helpers.io import save_checkpoint
from helpers.restoration import inpaint, make_mask
from helpers.sampling import eps_model, parse_labels, sample
from helpers.schedule import diffusion_from_config
from tests.tiny import tiny_config, tiny_model


@pytest.fixture
def conditional():
    config = tiny_config(num_classes=10)
    return tiny_model(config), diffusion_from_config(config), config


def test_guidance_without_labels_is_refused(conditional):
    model, diffusion, _ = conditional
    with pytest.raises(ValueError, match="guidance weight of 2 needs labels"):
        sample(model, diffusion, 2, labels=None, guidance=2.0, sampler="ddim:2")
    for w in (None, 0, 1):               # unconditional by definition: allowed
        assert eps_model(model, None, w) is not None


def test_more_labels_than_images_are_refused_and_fewer_are_repeated():
    with pytest.raises(ValueError, match="3 labels were given for 2 images"):
        parse_labels("1,2,3", 2, 10)
    assert parse_labels("1,2", 5, 10).tolist() == [1, 2, 1, 2, 1]


def test_the_cli_refuses_guidance_without_labels_in_one_line(conditional, tmp_path, capsys):
    model, _, config = conditional
    save_checkpoint({"config": config.to_dict(), "model": model.state_dict()}, tmp_path / "m.pt")
    code = cli_main(["sample", "--checkpoint", str(tmp_path / "m.pt"), "--n", "2", "--out", str(tmp_path / "s.pt"),
                     "--guidance", "2", "--sampler", "ddim:2", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "needs labels" in err and not (tmp_path / "s.pt").exists()


@pytest.mark.parametrize("spec", ["heun:4", "dpm++:4"])
def test_inpainting_refuses_samplers_it_cannot_step_with(conditional, spec):
    model, diffusion, _ = conditional
    known = torch.zeros(1, 1, 28, 28)
    with pytest.raises(ValueError, match=f"inpainting steps .* ddpm or ddim; {spec.replace('+', '[+]')} cannot be used"):
        inpaint(eps_model(model), diffusion, known, make_mask("bottom_half"), sampler=spec)
