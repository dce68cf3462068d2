"""Progressive distillation's pieces: the halved chain, the landing point, and a loss that can tell."""
import pytest
import torch

from helpers.device import make_generator
from helpers.distillation import distillation_loss, halve, landing_x0, teacher_two_steps
from helpers.samplers import ddim_step
from helpers.schedule import Diffusion
from helpers.unet import UNet

CHAIN = Diffusion(300, "rescaled_linear").respaced(8)


def test_one_student_step_spans_exactly_two_teacher_steps():
    short = halve(CHAIN)
    assert short.T == 4 and short.timestep_map.tolist() == CHAIN.timestep_map[1::2].tolist()
    for k in range(short.T):               # starts where teacher step 2k+1 starts, ends where step 2k ends
        assert short.alpha_bar[k] == CHAIN.alpha_bar[2 * k + 1]
        assert torch.isclose(short.alpha_bar_prev[k], CHAIN.alpha_bar_prev[2 * k])
    with pytest.raises(ValueError, match="cannot be halved"):
        halve(Diffusion(300).respaced(5))


def test_the_landing_image_takes_the_student_step_to_its_target():
    short, g = halve(CHAIN), make_generator(0)
    x, target = torch.randn(4, 1, 6, 6, generator=g), torch.randn(4, 1, 6, 6, generator=g)
    for k in range(short.T):
        x0 = landing_x0(short, torch.full((4,), k), x, target)
        assert torch.allclose(ddim_step(short, k, x, x0), target, atol=1e-4)
    assert torch.allclose(landing_x0(short, torch.zeros(4, dtype=torch.long), x, target), target)  # last: the image itself


def _fixed_image_model(c: float):
    """A noise model whose clean-image estimate is always c: DDIM lands exactly for any number of steps."""
    def eps(x, t):
        a = Diffusion(300, "rescaled_linear").alpha_bar[t].view(-1, 1, 1, 1)
        return (x - a.sqrt() * c) / (1 - a).sqrt()
    return eps


def test_a_student_equal_to_an_exact_teacher_has_zero_loss_and_a_wrong_one_does_not():
    x0 = torch.rand(16, 1, 8, 8, generator=make_generator(1)) * 2 - 1
    teacher = _fixed_image_model(0.3)
    exact = lambda x, t, y: teacher(x, t)                       # noqa: E731
    assert float(distillation_loss(exact, lambda y: teacher, CHAIN, x0, None, make_generator(2))) < 1e-6
    wrong = lambda x, t, y: _fixed_image_model(0.0)(x, t)      # noqa: E731
    assert float(distillation_loss(wrong, lambda y: teacher, CHAIN, x0, None, make_generator(2))) > 1e-3


def test_the_loss_trains_a_unet_and_uses_every_student_step():
    net = UNet(1, 8, base_channels=8, channel_mults=(1, 2), num_classes=10)
    x0, y = torch.rand(8, 1, 8, 8) * 2 - 1, torch.arange(8) % 10
    seen = []

    def teacher(labels):
        def eps(x, t):
            seen.append(int(t[0]))
            return net(x, t, labels)
        return eps
    loss = distillation_loss(net, teacher, CHAIN, x0, y, make_generator(3))
    loss.backward()
    assert loss.ndim == 0 and net.stem.weight.grad is not None
    assert sorted(set(seen)) == sorted(CHAIN.timestep_map.tolist())      # both teacher steps of every student step
    assert teacher_two_steps(teacher(y[:2]), CHAIN, 0, x0[:2]).shape == (2, 1, 8, 8)
