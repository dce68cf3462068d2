"""The schedule against closed forms: betas, alpha_bar, q_sample moments, posterior, x0, respacing."""
import math

import numpy as np
import pytest
import torch

from helpers.schedule import Diffusion, extract, make_betas

TS = [0, 1, 50, 150, 299]


def test_linear_betas_match_the_seed():
    betas = make_betas("linear", 300)
    assert betas.shape == (300,)
    assert betas[0].item() == pytest.approx(1e-4)
    assert betas[-1].item() == pytest.approx(0.02)
    assert torch.allclose(betas[1:] - betas[:-1], torch.full((299,), (0.02 - 1e-4) / 299, dtype=torch.float64))


def test_rescaled_linear_scales_end_points_by_1000_over_T():
    betas = make_betas("rescaled_linear", 250)
    assert betas[0].item() == pytest.approx(4e-4)
    assert betas[-1].item() == pytest.approx(0.08)


def test_rescaled_linear_refuses_chains_too_short_for_it():
    with pytest.raises(ValueError, match="rescaled_linear needs T > 20"):
        make_betas("rescaled_linear", 20)


def test_cosine_alpha_bar_follows_its_formula():
    T, s = 300, 0.008
    d = Diffusion(T, "cosine")
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    for t in [0, 10, 100, 200, 280]:  # away from the beta clip at the very end
        assert d.alpha_bar[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-5)


def test_unknown_schedule_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown schedule 'quadratic'"):
        Diffusion(100, "quadratic")


@pytest.mark.parametrize("kind", ["linear", "rescaled_linear", "cosine"])
def test_alpha_bar_is_the_product_of_alphas(kind):
    d = Diffusion(300, kind)
    assert torch.allclose(d.alphas, 1 - d.betas)
    expected = np.cumprod(1 - make_betas(kind, 300).numpy())
    assert np.allclose(d.alpha_bar.numpy(), expected, rtol=1e-5)
    assert torch.all(d.alpha_bar[1:] < d.alpha_bar[:-1])


def test_signal_left_at_the_last_step():
    betas = np.linspace(1e-4, 0.02, 300)
    assert Diffusion(300, "linear").signal_at_end() == pytest.approx(np.sqrt(np.prod(1 - betas)), rel=1e-5)
    assert Diffusion(300, "linear").signal_at_end() == pytest.approx(0.2192, abs=1e-4)
    assert Diffusion(300, "rescaled_linear").signal_at_end() < 0.01
    assert Diffusion(1000, "linear").signal_at_end() < 0.01


def test_posterior_variance_closed_form():
    d = Diffusion(300, "linear")
    b = make_betas("linear", 300)                 # float64: 1 - alpha_bar is tiny at small t
    ab = torch.cumprod(1 - b, dim=0)
    for t in TS[1:]:
        expected = b[t] * (1 - ab[t - 1]) / (1 - ab[t])
        assert d.posterior_variance[t].item() == pytest.approx(expected.item(), rel=1e-5)
    assert d.posterior_variance[0].item() == 0.0   # the last reverse step adds no noise


def test_posterior_mean_equals_the_eps_form():
    """mu(x_t, x0(eps)) = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t)  (Ho et al. eq. 11)."""
    d = Diffusion(300, "linear")
    g = torch.Generator().manual_seed(0)
    x_t, eps = torch.randn(len(TS), 1, 4, 4, generator=g), torch.randn(len(TS), 1, 4, 4, generator=g)
    t = torch.tensor(TS)
    mean, _ = d.q_posterior(d.predict_x0(x_t, t, eps), x_t, t)
    b, a, ab = (extract(v, t, 4) for v in (d.betas, d.alphas, d.alpha_bar))
    assert torch.allclose(mean, (x_t - b / (1 - ab).sqrt() * eps) / a.sqrt(), atol=1e-4)


@pytest.mark.parametrize("t", TS)
def test_q_sample_mean_and_variance(t):
    d = Diffusion(300, "linear")
    g = torch.Generator().manual_seed(t)
    x0 = torch.full((20000, 1, 1, 1), 0.6)
    tt = torch.full((20000,), t)
    x_t = d.q_sample(x0, tt, torch.randn(x0.shape, generator=g))
    ab = d.alpha_bar[t].item()
    assert x_t.mean().item() == pytest.approx(math.sqrt(ab) * 0.6, abs=0.02)
    assert x_t.var().item() == pytest.approx(1 - ab, rel=0.05, abs=2e-5)


def test_predict_x0_inverts_q_sample():
    d = Diffusion(300, "cosine")
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.rand(5, 1, 8, 8, generator=g) * 2 - 1, torch.randn(5, 1, 8, 8, generator=g)
    t = torch.tensor([0, 10, 100, 200, 290])
    assert torch.allclose(d.predict_x0(d.q_sample(x0, t, noise), t, noise), x0, atol=1e-3)


def test_respaced_chain_keeps_alpha_bar_at_its_timesteps():
    d = Diffusion(300, "linear")
    r = d.respaced(30)
    assert r.T == 30 and r.timestep_map[0] == 0 and r.timestep_map[-1] == 299
    assert torch.allclose(r.alpha_bar, d.alpha_bar[r.timestep_map], rtol=1e-5)
    assert d.respaced(300) is d
    with pytest.raises(ValueError, match="steps must be between 2 and T=300"):
        d.respaced(301)


def test_subset_keeps_alpha_bar_at_any_increasing_timesteps():
    d = Diffusion(300, "linear")
    r = d.subset(torch.arange(0, 300, 12))                 # diffusers' "leading" DDIM spacing for 25 steps
    assert r.T == 25 and r.timestep_map.tolist() == list(range(0, 300, 12))
    assert torch.allclose(r.alpha_bar, d.alpha_bar[r.timestep_map], rtol=1e-5)
    assert r.alpha_bar_prev[0] == 1.0                       # the last step lands on the clean image
    with pytest.raises(ValueError, match="increasing integers in 0..299"):
        d.subset(torch.tensor([5, 3]))


def test_predict_eps_inverts_predict_x0():
    d = Diffusion(300, "rescaled_linear")
    g = torch.Generator().manual_seed(0)
    x_t, eps = torch.randn(3, 1, 4, 4, generator=g), torch.randn(3, 1, 4, 4, generator=g)
    t = torch.tensor([0, 100, 299])
    assert torch.allclose(d.predict_eps(x_t, t, d.predict_x0(x_t, t, eps)), eps, atol=1e-4)
