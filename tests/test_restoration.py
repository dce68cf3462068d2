"""Inpainting (RePaint, DDNM), SDEdit, denoising and their baselines."""
import pytest
import torch

from helpers.device import make_generator
from helpers.restoration import (MASKS, inpaint, make_mask, matched_timestep, mean_fill, nearest_fill,
                                 remove_noise, repaint_path, sdedit)
from helpers.schedule import Diffusion
from helpers.sampling import eps_model
from tests.tiny import tiny_config, tiny_model


@pytest.fixture
def setup():
    config = tiny_config()
    images = torch.rand(3, 1, 28, 28, generator=make_generator(2)) * 2 - 1
    return eps_model(tiny_model(config)), Diffusion(config.T, config.schedule), images


def oracle(diffusion: Diffusion, target: torch.Tensor):
    """An eps model that knows the clean image: its x0 estimate is always ``target``."""
    def eps(x_t, t):
        ab = diffusion.alpha_bar[t].view(-1, 1, 1, 1)
        return (x_t - ab.sqrt() * target) / (1 - ab).sqrt()
    return eps


def test_masks_hide_what_their_names_say():
    assert make_mask("bottom_half")[0, 0, :14].eq(1).all() and make_mask("bottom_half")[0, 0, 14:].eq(0).all()
    assert make_mask("right_half")[0, 0, :, :14].eq(1).all() and make_mask("right_half")[0, 0, :, 14:].eq(0).all()
    centre = make_mask("centre_square")[0, 0]
    assert centre[7:21, 7:21].eq(0).all() and centre.sum() == 28 * 28 - 14 * 14
    m = make_mask("random_95", 50, generator=make_generator(0))
    assert m.shape == (50, 1, 28, 28) and 0.04 < float(m.mean()) < 0.06
    assert not torch.equal(m[0], m[1])                       # a new draw per image
    assert torch.equal(m, make_mask("random_95", 50, generator=make_generator(0)))
    assert 0.18 < float(make_mask("random_80", 50, generator=make_generator(0)).mean()) < 0.22
    with pytest.raises(ValueError, match="unknown mask 'top'"):
        make_mask("top")
    for kind in MASKS:                                       # every listed mask can be made, hides some pixels
        m = make_mask(kind, 3, generator=make_generator(0))
        assert m.shape == (3, 1, 28, 28) and set(m.unique().tolist()) == {0.0, 1.0}, kind


def test_repaint_path_without_jumps_is_the_plain_chain():
    assert repaint_path(5) == [4, 3, 2, 1, 0, -1]
    assert repaint_path(5, jump=2, resample=1) == repaint_path(5)


def test_repaint_path_with_jumps_goes_back_up_and_ends_clean():
    path = repaint_path(6, jump=2, resample=2)
    assert path == [5, 4, 3, 2, 3, 4, 3, 2, 1, 0, 1, 2, 1, 0, -1]
    long = repaint_path(50, jump=5, resample=3)
    assert long[0] == 49 and long[-1] == -1
    assert all(abs(b - a) == 1 for a, b in zip(long, long[1:]))
    downs = sum(b < a for a, b in zip(long, long[1:]))
    assert downs == 50 + 9 * 2 * 5                         # 9 jump points, 2 extra passes of 5 steps each
    with pytest.raises(ValueError, match="jump must be >= 0"):
        repaint_path(5, jump=-1)


@pytest.mark.parametrize("method", ["repaint", "ddnm"])
def test_with_nothing_missing_inpainting_returns_the_input(setup, method):
    model, d, images = setup
    out = inpaint(model, d, images, torch.ones(1, 1, 28, 28), method, "ddpm", generator=make_generator(0))
    assert torch.equal(out, images)


@pytest.mark.parametrize("method,jump", [("repaint", 0), ("repaint", 2), ("ddnm", 0)])
def test_inpainting_keeps_known_pixels_and_fills_the_rest(setup, method, jump):
    model, d, images = setup
    mask = make_mask("bottom_half")
    out = inpaint(model, d, images, mask, method, "ddpm", jump=jump, resample=2, generator=make_generator(0))
    assert torch.equal(out[..., :14, :], images[..., :14, :])
    assert not torch.allclose(out[..., 14:, :], images[..., 14:, :], atol=0.1)
    again = inpaint(model, d, images, mask, method, "ddpm", jump=jump, resample=2, generator=make_generator(0))
    assert torch.equal(out, again)


@pytest.mark.parametrize("method", ["repaint", "ddnm"])
def test_a_model_that_knows_the_digit_completes_it(setup, method):
    _, d, images = setup
    target = images.clamp(-0.9, 0.9)
    out = inpaint(oracle(d, target), d, target, make_mask("centre_square"), method, "ddpm:5",
                  generator=make_generator(0))
    assert torch.allclose(out, target, atol=1e-4)


def test_inpainting_rejects_a_mask_of_the_wrong_shape(setup):
    model, d, images = setup
    with pytest.raises(ValueError, match="mask"):
        inpaint(model, d, images, torch.ones(1, 1, 14, 14))
    with pytest.raises(ValueError, match="unknown inpainting method"):
        inpaint(model, d, images, torch.ones(1, 1, 28, 28), method="copy")


def test_sdedit_at_t0_zero_returns_the_input_and_rejects_other_ranges(setup):
    model, d, images = setup
    assert torch.equal(sdedit(model, d, images, 0.0), images)
    with pytest.raises(ValueError, match="t0 is a fraction"):
        sdedit(model, d, images, 1.5)


def test_sdedit_walks_the_share_of_the_chain_t0_asks_for(setup):
    model, d, images = setup
    seen = []

    def counting(x_t, t):
        seen.append(int(t[0]))
        return model(x_t, t)
    sdedit(counting, d, images, 0.5, "ddpm", generator=make_generator(0))
    assert seen == [4, 3, 2, 1, 0]
    seen.clear()
    sdedit(counting, Diffusion(100), images, 0.4, "ddim:10", generator=make_generator(0))
    assert len(seen) == 4 and seen[0] == 39 and seen[-1] == 0


def test_sdedit_with_a_model_that_knows_the_digit_returns_it(setup):
    _, d, images = setup
    target = images.clamp(-0.9, 0.9)
    out = sdedit(oracle(d, target), d, torch.zeros_like(target), 1.0, "ddpm", generator=make_generator(0))
    assert torch.allclose(out, target, atol=1e-4)


def test_denoising_starts_where_the_noise_level_matches(setup):
    _, d, images = setup
    long = Diffusion(300, "linear")
    t = matched_timestep(long, 0.5)
    ratio = ((1 - long.alpha_bar) / long.alpha_bar).sqrt()
    assert abs(ratio[t] - 0.5) <= min(abs(ratio[t - 1] - 0.5), abs(ratio[t + 1] - 0.5))
    noisy = images + 0.5 * torch.randn(images.shape, generator=make_generator(3))
    target = images.clamp(-0.9, 0.9)
    assert torch.allclose(remove_noise(oracle(long, target), long, noisy, 0.5), target, atol=1e-4)
    with pytest.raises(ValueError, match="sigma must be positive"):
        matched_timestep(long, 0)


def test_baselines_fill_from_the_mean_and_from_the_nearest_image(setup):
    _, _, images = setup
    mask = make_mask("right_half")
    mean = torch.full((1, 28, 28), 0.25)
    filled = mean_fill(images, mask, mean)
    assert torch.equal(filled[..., :14], images[..., :14]) and filled[..., 14:].eq(0.25).all()
    pool = torch.cat([torch.rand(20, 1, 28, 28, generator=make_generator(4)) * 2 - 1, images])
    assert torch.equal(nearest_fill(images, mask, pool), images)     # each input is in the pool
