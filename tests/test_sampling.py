"""Sampling: determinism, where a guided loop ends, guidance arithmetic, batches, labels, trajectories."""
import pytest
import torch

from helpers.device import make_generator
from helpers.sampling import Autoguided, eps_model, guided_eps, parse_labels, prior_labels, sample, trajectory
from helpers.schedule import Diffusion
from tests.tiny import tiny_config, tiny_model


@pytest.fixture
def cond():
    config = tiny_config(num_classes=10)
    return tiny_model(config), Diffusion(config.T, config.schedule)


def test_same_generator_same_images(cond):
    model, d = cond
    a = sample(model, d, 3, generator=make_generator(7))
    b = sample(model, d, 3, generator=make_generator(7))
    c = sample(model, d, 3, generator=make_generator(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (3, 1, 28, 28) and a.min() >= -1 and a.max() <= 1


class Oracle(torch.nn.Module):
    """A conditional 'network' whose clean-image estimate for label y is the flat image y / 10 - 0.5
    (the "no label" index 10: 0.5): eps = (x_t - sqrt(alpha_bar) x0) / sqrt(1 - alpha_bar)."""

    num_classes, in_channels, image_size = 10, 1, 28

    def __init__(self, diffusion: Diffusion):
        super().__init__()
        self.diffusion, self.device_marker = diffusion, torch.nn.Parameter(torch.zeros(()))

    def forward(self, x_t, t, labels):
        x0 = (labels.float() / 10 - 0.5).view(-1, 1, 1, 1).expand_as(x_t)
        ab = self.diffusion.alpha_bar[t].view(-1, 1, 1, 1)
        return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()


@pytest.mark.parametrize("sampler", ["ddpm", "ddim:4"])
def test_a_guided_loop_ends_at_the_guided_estimate_of_the_clean_image(sampler):
    """Guidance w mixes the two estimates as x0_uncond + w (x0_cond - x0_uncond), whatever the noise:
    with labels 0..3 (x0 = -0.5 .. -0.2, unlabelled 0.5) and w = 1.5 every pixel ends at 1.5 x0 - 0.25."""
    d = Diffusion(10, "linear")
    labels = torch.tensor([0, 1, 2, 3])
    expected = (1.5 * (labels / 10 - 0.5) - 0.25).view(-1, 1, 1, 1).expand(4, 1, 28, 28)
    for seed in (0, 1):
        x = sample(Oracle(d), d, 4, labels=labels, guidance=1.5, sampler=sampler, generator=make_generator(seed))
        assert torch.allclose(x, expected, atol=1e-4)
    plain = sample(Oracle(d), d, 4, labels=labels, sampler=sampler, generator=make_generator(0))
    assert torch.allclose(plain, (labels / 10 - 0.5).view(-1, 1, 1, 1).expand(4, 1, 28, 28), atol=1e-4)


def test_guidance_weights_reproduce_both_predictions(cond):
    model, _ = cond
    x, t, y = torch.randn(2, 1, 28, 28), torch.tensor([3, 7]), torch.tensor([4, 5])
    cond_eps, uncond_eps = model(x, t, y), model(x, t)
    assert torch.allclose(eps_model(model, y, 1.0)(x, t), cond_eps, atol=1e-6)
    assert torch.allclose(eps_model(model, y, 0.0)(x, t), uncond_eps, atol=1e-6)
    assert torch.allclose(eps_model(model, y, 3.0)(x, t), uncond_eps + 3 * (cond_eps - uncond_eps), atol=1e-5)
    assert torch.equal(guided_eps(torch.ones(2), torch.zeros(2), 2.5), torch.full((2,), 2.5))


def test_autoguidance_steps_away_from_the_guide(cond):
    """eps + (w - 1)(eps - eps_guide), without labels, with labels, and on top of classifier-free guidance."""
    model, d = cond
    guide = tiny_model(tiny_config(num_classes=10), seed=1)
    x, t, y = torch.randn(2, 1, 28, 28), torch.tensor([3, 7]), torch.tensor([4, 5])
    with torch.no_grad():
        c, u, gc, gu = model(x, t, y), model(x, t), guide(x, t, y), guide(x, t)
        torch.testing.assert_close(Autoguided(model, guide, 2.5)(x, t), u + 1.5 * (u - gu))
        torch.testing.assert_close(Autoguided(model, guide, 2.5)(x, t, y), c + 1.5 * (c - gc))
        torch.testing.assert_close(Autoguided(model, guide, 2.0, guidance=1.5)(x, t, y),
                                   u + 1.5 * (c - u) + (c - gc))
        torch.testing.assert_close(Autoguided(model, guide, 1.0, guidance=3.0)(x, t, y), eps_model(model, y, 3.0)(x, t))
    a = sample(Autoguided(model, guide, 2.0), d, 3, generator=make_generator(7))
    assert a.shape == (3, 1, 28, 28) and not torch.equal(a, sample(model, d, 3, generator=make_generator(7)))
    with pytest.raises(ValueError, match="the guide must take the model's inputs"):
        Autoguided(model, tiny_model(tiny_config(num_classes=None)), 2.0)
    with pytest.raises(ValueError, match="needs a class-conditional model"):
        Autoguided(tiny_model(tiny_config()), tiny_model(tiny_config()), 2.0, guidance=2.0)


def test_ddim_with_every_step_and_eta_1_is_the_ddpm_sampler(cond):
    """Same model, chain and noise draws: DDIM(S=T, eta=1) and DDPM give the same images."""
    model, d = cond
    labels = torch.tensor([0, 3, 5, 9])
    ddpm = sample(model, d, 4, labels, 2.0, make_generator(3))
    ddim = sample(model, d, 4, labels, 2.0, make_generator(3), sampler="ddim:10:1")
    assert torch.allclose(ddpm, ddim, atol=1e-4)


def test_ddim_eta_1_matches_ddpm_in_distribution():
    """Different noise, many samples of a tiny U-Net: per-pixel mean and spread agree."""
    config = tiny_config(T=30)
    model, d = tiny_model(config), Diffusion(30, "linear")
    ddpm = sample(model, d, 400, generator=make_generator(0))
    ddim1 = sample(model, d, 400, generator=make_generator(1), sampler="ddim:30:1")
    gap = lambda a, b: (a.mean(0) - b.mean(0)).abs().mean().item()  # noqa: E731
    noise_level = gap(ddpm[:200], ddpm[200:])                 # what two DDPM halves differ by
    assert gap(ddpm, ddim1) < 2 * noise_level
    assert abs(ddpm.std() - ddim1.std()) < 0.02


def test_batches_share_one_generator(cond):
    """Batch by batch with one generator: a batch of all is the one-call result; smaller batches draw
    their noise in another order (each batch's every step in turn), so a stochastic sampler differs."""
    model, d = cond
    labels = torch.arange(6) % 10
    whole = sample(model, d, 6, labels, 2.0, make_generator(4), "ddpm:5")
    assert torch.equal(sample(model, d, 6, labels, 2.0, make_generator(4), "ddpm:5", batch_size=6), whole)
    halves = sample(model, d, 6, labels, 2.0, make_generator(4), "ddpm:5", batch_size=3)
    assert torch.equal(halves[:3], sample(model, d, 3, labels[:3], 2.0, make_generator(4), "ddpm:5"))
    assert not torch.equal(halves, whole)


def test_ddim_eta_0_is_deterministic_given_x_T(cond):
    model, d = cond
    a = sample(model, d, 2, generator=make_generator(5), sampler="ddim:4")
    b = sample(model, d, 2, generator=make_generator(5), sampler="ddim:4")
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="a sampler is written"):
        sample(model, d, 1, sampler="plms")


def test_labels_on_an_unconditional_model_are_rejected():
    model = tiny_model(tiny_config())
    with pytest.raises(ValueError, match="model is unconditional"):
        eps_model(model, torch.tensor([1]))


def test_trajectory_frames(cond):
    model, d = cond
    out = trajectory(model, d, 2, labels=torch.tensor([1, 2]), generator=make_generator(0), every=4)
    assert out["t"].tolist() == out["step"].tolist() == [9, 8, 4, 0]
    assert out["x_t"].shape == out["x0"].shape == (4, 2, 1, 28, 28)
    final = sample(model, d, 2, labels=torch.tensor([1, 2]), generator=make_generator(0))
    assert torch.equal(out["x_t"][-1], final)


def test_trajectory_of_a_respaced_chain_reports_model_timesteps():
    model = tiny_model(tiny_config(T=30))
    out = trajectory(model, Diffusion(30, "linear"), 1, generator=make_generator(0), sampler="ddpm:4")
    assert out["step"].tolist() == [3, 2, 1, 0]
    assert out["t"].tolist() == [29, 19, 10, 0]


def test_parse_labels():
    assert parse_labels("balanced", 12, 10).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert parse_labels("3,7", 5, 10).tolist() == [3, 7, 3, 7, 3]
    assert parse_labels(None, 5, None) is None
    with pytest.raises(ValueError, match=r"integers in 0..9"):
        parse_labels("3,12", 4, 10)
    with pytest.raises(ValueError, match="comma-separated"):
        parse_labels("seven", 4, 10)
    with pytest.raises(ValueError, match="class-conditional"):
        parse_labels("1", 4, None)


def test_prior_labels_follow_the_class_sizes():
    mnist_train = torch.tensor([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    labels = prior_labels(10_000, mnist_train)
    counts = torch.bincount(labels, minlength=10)
    assert labels.shape == (10_000,) and counts.sum() == 10_000
    assert (counts.double() - mnist_train / mnist_train.sum() * 10_000).abs().max() < 1   # largest remainder
    assert counts[1] == 1124 and counts[5] == 904                # the commonest and the rarest digit
    assert labels[:10].tolist() == list(range(10))               # classes take turns
    assert prior_labels(7, torch.tensor([1, 0, 1])).tolist() == [0, 2, 0, 2, 0, 2, 0]   # empty class: never; tie: first
    assert torch.equal(prior_labels(12, torch.ones(10)), torch.arange(12) % 10)   # equal sizes: balanced
    with pytest.raises(ValueError, match="non-negative counts"):
        prior_labels(5, torch.tensor([3, -1]))
    with pytest.raises(ValueError, match="n must be"):
        prior_labels(-1, torch.ones(10))
