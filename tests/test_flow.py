"""Flow matching, pinned against Meta's ``flow_matching`` library; the conversions; DDIM as an Euler step.

Conventions: ours runs t = 0 data, t = 1 noise (x_t = (1 - t) x0 + t eps, u = eps - x0); the
library's ``AffineProbPath(CondOTScheduler())`` runs t = 0 noise, t = 1 data (x_t = t x_1 + (1 - t) x_0,
x_0 the noise, x_1 the data). So their t is 1 - ours and their velocity is minus ours; a chain of
ours from t = 1 to 0 is theirs from 0 to 1 on the same grid.
"""
import pytest
import torch
from flow_matching.path import AffineProbPath
from flow_matching.path.scheduler import CondOTScheduler
from flow_matching.solver import ODESolver

from helpers.device import make_generator
from helpers.flow import LinearPath, flow_matching_loss, sample_times, solve
from helpers.prediction import PREDICTIONS, Coefficients, convert, score, split, target
from helpers.samplers import Sampler, ddim_step, parse_sampler
from helpers.sampling import sample
from helpers.schedule import Diffusion
from helpers.train import train
from tests.tiny import tiny_config


def _field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A fixed, smooth analytic velocity field in our time: u(x, t) = tanh(0.7 x + t - 0.3) - 0.5 x."""
    return torch.tanh(0.7 * x + t - 0.3) - 0.5 * x


def _ours_model(x, model_time):                 # the field as a "network" predicting the velocity
    return _field(x, (model_time / (LinearPath().T - 1)).view(-1, 1, 1, 1))


def _our_chain(name: str, steps: int, x_1: torch.Tensor, path: LinearPath = LinearPath()) -> torch.Tensor:
    for out in solve(path, _ours_model, x_1, name, steps):
        pass
    return out["sample"]


def _their_chain(method: str, steps: int, x_1: torch.Tensor) -> torch.Tensor:
    their_field = lambda x, t: -_field(x, 1 - t)                           # noqa: E731
    grid = torch.linspace(0, 1, steps + 1, dtype=torch.float64).float()
    return ODESolver(velocity_model=their_field).sample(x_1, step_size=None, method=method, time_grid=grid)


def _path_differences(path_fn) -> float:
    g = make_generator(0)
    x0, noise, t = torch.rand(8, 1, 6, 6, generator=g) * 2 - 1, torch.randn(8, 1, 6, 6, generator=g), torch.rand(8, generator=g)
    x_t, u = path_fn(x0, noise, t)
    theirs = AffineProbPath(scheduler=CondOTScheduler()).sample(x_0=noise, x_1=x0, t=1 - t)
    return max(float((x_t - theirs.x_t).abs().max()), float((u + theirs.dx_t).abs().max()))


def test_path_sample_and_velocity_agree_with_flow_matching():
    assert _path_differences(LinearPath().sample) < 1e-6


def test_a_wrong_path_convention_would_be_caught():
    """The same comparison fails for the path with data and noise swapped (t = 0 noise, as in the library)."""
    assert _path_differences(lambda x0, noise, t: LinearPath().sample(noise, x0, t)) > 0.1


@pytest.mark.parametrize("ours, theirs", [("euler", "euler"), ("midpoint", "midpoint")])
def test_ode_chains_agree_with_flow_matching_solver(ours, theirs):
    x_1 = torch.randn(4, 1, 6, 6, generator=make_generator(1))
    for steps in (2, 5, 10):
        assert float((_our_chain(ours, steps, x_1) - _their_chain(theirs, steps, x_1)).abs().max()) < 1e-5


def test_a_wrong_solver_would_be_caught():
    """Euler against the library's midpoint chain, and a velocity of the wrong sign, are both far off."""
    x_1 = torch.randn(4, 1, 6, 6, generator=make_generator(1))
    assert float((_our_chain("euler", 5, x_1) - _their_chain("midpoint", 5, x_1)).abs().max()) > 1e-3
    flipped = torch.linspace(0, 1, 6)
    wrong = ODESolver(velocity_model=lambda x, t: _field(x, 1 - t)).sample(x_1, None, "euler", time_grid=flipped)
    assert float((_our_chain("euler", 5, x_1) - wrong).abs().max()) > 1e-2


def test_heun_and_midpoint_are_second_order_and_euler_first():
    x_1 = torch.randn(4, 1, 6, 6, generator=make_generator(2), dtype=torch.float64)
    exact = ODESolver(velocity_model=lambda x, t: -_field(x, 1 - t)).sample(
        x_1, None, "dopri5", atol=1e-12, rtol=1e-12, time_grid=torch.tensor([0.0, 1.0], dtype=torch.float64))
    err = {n: {k: float((_our_chain(n, k, x_1) - exact).abs().max()) for k in (16, 32)} for n in ("euler", "midpoint")}
    assert 1.6 < err["euler"][16] / err["euler"][32] < 2.4
    assert err["midpoint"][16] / err["midpoint"][32] > 3.3
    heun = [float((_our_chain("heun", k, x_1) - exact).abs().max()) for k in (16, 32)]
    assert heun[0] < err["euler"][16] / 3                  # the last step is Euler's: still far better


def _coefficients(g, flow: bool) -> Coefficients:
    t = torch.rand(5, 1, 1, 1, generator=g) * 0.9 + 0.05
    if flow:
        return LinearPath().coefficients(t.flatten())
    ab = torch.rand(5, 1, 1, 1, generator=g) * 0.9 + 0.05          # a variance-preserving pair
    return Coefficients(ab.sqrt(), (1 - ab).sqrt(), None, None)


@pytest.mark.parametrize("flow", [True, False])
def test_every_prediction_converts_to_every_other_and_back(flow):
    g = torch.Generator().manual_seed(3)
    c = _coefficients(g, flow)
    x0, eps = torch.randn(5, 1, 4, 4, generator=g, dtype=torch.float64), torch.randn(5, 1, 4, 4, generator=g, dtype=torch.float64)
    c = Coefficients(*(v.double() if v is not None else None for v in c))
    x_t = c.alpha * x0 + c.sigma * eps
    kinds = PREDICTIONS if flow else ("eps", "x0", "v")
    for source in kinds:
        out = target(source, x0, eps, c)
        back_x0, back_eps = split(source, out, x_t, c)
        assert torch.allclose(back_x0, x0) and torch.allclose(back_eps, eps), source
        for to in kinds:
            assert torch.allclose(convert(out, x_t, c, source, to), target(to, x0, eps, c)), (source, to)
    assert torch.allclose(score(eps, c), -(x_t - c.alpha * x0) / c.sigma ** 2)      # grad log N(alpha x0, sigma^2)
    if flow:
        assert torch.allclose(target("velocity", x0, eps, c), eps - x0)


def test_guidance_on_the_output_is_guidance_on_the_velocity():
    """The conversions are linear in the output at fixed x_t: guiding an x0 or v prediction guides the velocity."""
    g = torch.Generator().manual_seed(4)
    c, x_t = LinearPath().coefficients(torch.rand(3, generator=g)), torch.randn(3, 1, 4, 4, generator=g)
    cond, uncond, w = torch.randn(3, 1, 4, 4, generator=g), torch.randn(3, 1, 4, 4, generator=g), 2.5
    for kind in ("x0", "v"):
        u = lambda out: convert(out, x_t, c, kind, "velocity")               # noqa: E731
        assert torch.allclose(u(uncond + w * (cond - uncond)), u(uncond) + w * (u(cond) - u(uncond)), atol=1e-5)


def test_ddim_step_is_an_euler_step_of_the_probability_flow_ode():
    """In y = x / sqrt(alpha_bar) and sigma = sqrt((1 - alpha_bar) / alpha_bar) the ODE is dy / dsigma = eps;
    one Euler step of it, mapped back, is the DDIM (eta = 0) step, on the course's 300-step chain."""
    from helpers.flow import euler_step
    chain = Diffusion(300, "rescaled_linear").respaced(25)
    g = make_generator(5)
    for i in (24, 12, 3, 1):
        a, a_prev = float(chain.alpha_bar[i]), float(chain.alpha_bar_prev[i])
        s, s_prev = ((1 - a) / a) ** 0.5, ((1 - a_prev) / a_prev) ** 0.5
        x0 = 0.9 * torch.tanh(torch.randn(4, 1, 6, 6, generator=g))       # inside [-1, 1]: no clipping
        eps = torch.randn(4, 1, 6, 6, generator=g)                         # the network's eps at x
        x = a ** 0.5 * x0 + (1 - a) ** 0.5 * eps
        y_next = euler_step(None, x / a ** 0.5, s, s_prev, eps)
        assert torch.allclose(a_prev ** 0.5 * y_next, ddim_step(chain, i, x, x0), atol=1e-5)


def test_time_sampling_takes_a_generator_and_stays_inside():
    for kind in ("uniform", "logit_normal", "lognormal"):
        a, b = sample_times(kind, 1000, make_generator(0)), sample_times(kind, 1000, make_generator(0))
        assert torch.equal(a, b) and 0 < a.min() and a.max() < 1
    logit = sample_times("logit_normal", 20000, make_generator(1)).logit()
    assert abs(float(logit.mean())) < 0.03 and abs(float(logit.std()) - 1) < 0.03


def test_the_flow_loss_regresses_on_the_velocity():
    path, g = LinearPath(), make_generator(0)
    x0, noise, t = torch.rand(4, 1, 4, 4) * 2 - 1, torch.randn(4, 1, 4, 4), torch.rand(4)
    perfect = lambda x_t, mt: noise - x0                                       # noqa: E731
    assert float(flow_matching_loss(path, perfect, x0, g, t, noise)) == 0
    assert float(flow_matching_loss(path, lambda x_t, mt: torch.zeros_like(x_t), x0, g, t, noise)) > 0.5


def test_a_tiny_flow_model_trains_and_samples_with_guidance(tiny_data):
    config = tiny_config(method="flow", num_classes=10, timesteps="logit_normal")
    assert config.prediction == "velocity"
    state = train(config, tiny_data, progress=False)
    assert state.step == 4 and all(torch.isfinite(torch.tensor(state.losses)))
    images = sample(state.sampling_model, state.diffusion, 3, torch.tensor([1, 2, 3]), 2.0,
                    make_generator(0), "euler:2")
    assert images.shape == (3, 1, 28, 28) and torch.isfinite(images).all()
    with pytest.raises(ValueError, match="ddim:5 is a DDPM sampler but this is a flow-matching model"):
        sample(state.sampling_model, state.diffusion, 2, None, None, make_generator(0), "ddim:5")


def test_bad_specs_and_configs_give_clear_errors():
    with pytest.raises(ValueError, match="euler:4 is a flow-matching sampler but this is a DDPM model"):
        parse_sampler("euler:4").chain(Diffusion(10))
    with pytest.raises(ValueError, match="needs a step count, e.g. midpoint:20"):
        parse_sampler("midpoint")
    assert parse_sampler("midpoint:5") == Sampler("midpoint", 5) and str(parse_sampler("euler:4")) == "euler:4"
    assert parse_sampler("midpoint:5").network_calls(LinearPath()) == 10
    assert parse_sampler("heun:5").chain(LinearPath()).T == 5
    with pytest.raises(ValueError, match="flow-matching models: euler:STEPS"):
        parse_sampler("euler:4:0.5")
    with pytest.raises(ValueError, match="eps at t = 1"):
        tiny_config(method="flow", prediction="eps")
    with pytest.raises(ValueError, match="a DDPM chain is discrete"):
        tiny_config(prediction="velocity")
    with pytest.raises(ValueError, match="with prediction 'v' set it to none"):
        tiny_config(prediction="v", min_snr_gamma=5.0)
    with pytest.raises(ValueError, match="min_snr_gamma"):
        tiny_config(method="flow", min_snr_gamma=5.0)
    assert tiny_config().prediction == "eps" and tiny_config(method="flow", prediction="v").prediction == "v"


def test_the_command_line_samples_a_flow_checkpoint_and_refuses_a_ddpm_spec(tiny_data, tmp_path, capsys):
    from helpers.cli import main
    train(tiny_config(method="flow", max_steps=2), tiny_data, out=tmp_path / "flow.pt", progress=False)
    assert main(["sample", "--checkpoint", str(tmp_path / "flow.pt"), "--n", "2", "--out", str(tmp_path / "s.pt"),
                 "--sampler", "midpoint:2", "--device", "cpu"]) == 0
    assert main(["sample", "--checkpoint", str(tmp_path / "flow.pt"), "--n", "2", "--out", str(tmp_path / "s.pt"),
                 "--sampler", "ddpm", "--device", "cpu"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: ddpm is a DDPM sampler but this is a flow-matching model: use euler:STEPS, heun:STEPS or "
        "midpoint:STEPS, e.g. euler:20")


def test_checkpoints_without_the_new_fields_load_as_ddpm_eps():
    from helpers.config import Config
    old = Config().to_dict()
    del old["method"], old["prediction"]
    config = Config.from_dict(old)
    assert (config.method, config.prediction) == ("ddpm", "eps")


@pytest.mark.parametrize("kind", ["x0", "v"])
def test_a_ddpm_network_predicting_x0_or_v_regresses_its_target_and_samples_as_eps(kind):
    """The loss with a perfect x0/v predictor is zero; wrapped, the same predictor returns the true noise."""
    from helpers.prediction import NoiseFrom
    from helpers.train import noise_prediction_loss
    diffusion, g = Diffusion(50), make_generator(0)
    x0, noise, t = torch.rand(6, 1, 4, 4, generator=g) * 2 - 1, torch.randn(6, 1, 4, 4, generator=g), torch.randint(0, 50, (6,), generator=g)
    ab = diffusion.alpha_bar[t].view(-1, 1, 1, 1)
    c = Coefficients(ab.sqrt(), (1 - ab).sqrt())
    perfect = lambda x_t, tt: target(kind, x0, noise, c)                       # noqa: E731
    assert float(noise_prediction_loss(diffusion, perfect, x0, t=t, noise=noise, prediction=kind)) < 1e-10
    assert float(noise_prediction_loss(diffusion, perfect, x0, t=t, noise=noise)) > 0.01    # judged as eps: wrong
    eps = NoiseFrom(lambda x_t, tt: target(kind, x0, noise, c), kind, diffusion.alpha_bar)(diffusion.q_sample(x0, t, noise), t)
    assert torch.allclose(eps, noise, atol=1e-4)


def test_a_tiny_v_prediction_ddpm_trains_saves_and_samples(tiny_data, tmp_path):
    from helpers.io import load_model
    from helpers.prediction import NoiseFrom
    state = train(tiny_config(prediction="v", num_classes=10), tiny_data, out=tmp_path / "v.pt", progress=False)
    assert isinstance(state.sampling_model, NoiseFrom) and all(torch.isfinite(torch.tensor(state.losses)))
    model, diffusion, config = load_model(tmp_path / "v.pt")
    assert config.prediction == "v" and isinstance(model, NoiseFrom) and model.num_classes == 10
    images = sample(model, diffusion, 3, torch.tensor([1, 2, 3]), 2.0, make_generator(0), "ddim:3")
    assert images.shape == (3, 1, 28, 28) and torch.isfinite(images).all()
