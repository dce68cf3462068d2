"""Reverse steps and sampler specs: visiting order, the last step, DDIM against DDPM, a known answer."""
import pytest
import torch

from helpers.device import make_generator
from helpers.samplers import (History, Sampler, ddim_step, ddpm_step, denoise, dpmpp_2m_step, heun_step, parse_sampler,
                              reverse_process)
from helpers.schedule import Diffusion


def _zero(x, t):
    return torch.zeros_like(x)


def test_reverse_process_visits_every_step_in_reverse_order():
    d = Diffusion(12, "linear")
    seen = []
    model = lambda x, t: seen.append(t.clone()) or torch.zeros_like(x)  # noqa: E731
    x_T = torch.randn(2, 1, 4, 4, generator=make_generator(0))
    steps = list(reverse_process(model, d, x_T, "ddpm", make_generator(0)))
    assert [s["step"] for s in steps] == [s["t"] for s in steps] == list(range(11, -1, -1))
    assert [int(t[0]) for t in seen] == list(range(11, -1, -1))
    assert steps[-1]["sample"].shape == (2, 1, 4, 4)


def test_a_respaced_sampler_shows_the_model_its_original_timesteps():
    seen = []
    model = lambda x, t: seen.append(int(t[0])) or torch.zeros_like(x)  # noqa: E731
    steps = list(reverse_process(model, Diffusion(30, "linear"), torch.zeros(1, 1, 2, 2), "ddim:4"))
    assert seen == [29, 19, 10, 0] and [s["step"] for s in steps] == [3, 2, 1, 0]


def test_last_reverse_step_is_the_posterior_mean():
    d = Diffusion(10, "linear")
    x = torch.randn(3, 1, 4, 4, generator=make_generator(0))
    _, x0 = denoise(_zero, d, x, 0)
    a, b = ddpm_step(d, 0, x, x0, make_generator(1)), ddpm_step(d, 0, x, x0, make_generator(2))
    assert torch.equal(a, b) and torch.equal(a, d.q_posterior(x0, x, torch.zeros(3, dtype=torch.long))[0])


def test_ddim_with_eta_1_takes_the_ddpm_step():
    """Same x_t, x0 estimate and noise draw: DDIM(eta = 1) lands where DDPM does, at every step."""
    d = Diffusion(50, "rescaled_linear")
    x = torch.randn(4, 1, 6, 6, generator=make_generator(3))
    x0 = torch.rand(4, 1, 6, 6, generator=make_generator(4)) * 2 - 1
    for i in (49, 20, 1, 0):
        assert torch.allclose(ddim_step(d, i, x, x0, make_generator(5), eta=1.0),
                              ddpm_step(d, i, x, x0, make_generator(5)), atol=1e-5)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim:1000:1", "ddim", "ddim:100", "heun:50", "dpm++:100"])
def test_samplers_recover_a_gaussian_data_set_from_its_exact_noise_predictor(sampler):
    """For data x0 ~ N(mu, s^2) the best eps prediction is known in closed form:
    eps*(x_t) = sqrt(1 - a) (x_t - sqrt(a) mu) / (a s^2 + 1 - a). Every sampler must then
    produce N(mu, s^2) (up to discretisation: 1000 steps, or 100 for DDIM); a wrong
    coefficient anywhere in a step shifts the mean or the spread. (Fewer steps shrink the
    spread for real: DDIM with 10 steps gives s = 0.18 here, DDPM with 100 gives 0.27.)"""
    mu, s = 0.2, 0.3
    full = Diffusion(1000, "linear")

    def exact_eps(x_t, t):                     # t: model timesteps of the 1000-step chain
        a = full.alpha_bar[t].view(-1, 1, 1, 1)
        return (1 - a).sqrt() * (x_t - a.sqrt() * mu) / (a * s ** 2 + 1 - a)

    g = make_generator(0)
    for out in reverse_process(exact_eps, full, torch.randn(4000, 1, 2, 2, generator=g), sampler, g):
        pass
    assert out["sample"].mean().item() == pytest.approx(mu, abs=0.01)
    assert out["sample"].std().item() == pytest.approx(s, abs=0.015)


def test_sampler_specs_round_trip_and_refuse_bad_ones():
    assert parse_sampler("ddpm") == Sampler("ddpm") and str(Sampler("ddpm")) == "ddpm"
    assert parse_sampler("ddim:25") == Sampler("ddim", 25, 0.0) and str(parse_sampler("ddim:25")) == "ddim:25"
    assert parse_sampler("ddim:50:0.5") == Sampler("ddim", 50, 0.5) and str(Sampler("ddim", 50, 0.5)) == "ddim:50:0.5"
    assert parse_sampler("ddpm:30").chain(Diffusion(300)).T == 30 and parse_sampler("ddim").chain(Diffusion(300)).T == 300
    assert parse_sampler("heun:10") == Sampler("heun", 10) and str(parse_sampler("dpm++:8")) == "dpm++:8"
    assert parse_sampler("heun:10").network_calls(Diffusion(300)) == 19
    assert parse_sampler("dpm++:10").network_calls(Diffusion(300)) == 10 == parse_sampler("ddim:10").network_calls(Diffusion(300))
    for bad in ["plms", "ddim:x", "ddpm:50:0.5", "ddim::0.5", "ddim:25:0.5:1", "heun:10:0.5", "dpm+:10"]:
        with pytest.raises(ValueError, match="a sampler is written ddpm, ddpm:STEPS"):
            parse_sampler(bad)
    with pytest.raises(ValueError, match="eta must be in"):
        parse_sampler("ddim:25:1.5")
    with pytest.raises(ValueError, match="at least 2 steps"):
        parse_sampler("ddim:1")
    with pytest.raises(ValueError, match="eta only applies to the DDIM sampler"):
        Sampler("ddpm", eta=0.5)
    with pytest.raises(ValueError, match="unknown sampler 'plms'"):
        Sampler("plms")


def _gaussian_problem(s: float = 0.2):
    """Data x0 ~ N(0, s^2): the exact noise predictor, and the exact end of the probability-flow
    ODE from x_T at t = T-1, x0 = x_T s / sqrt(a s^2 + 1 - a) (a = alpha_bar[T-1])."""
    d = Diffusion(300, "rescaled_linear")

    def exact_eps(x_t, t):
        a = d.alpha_bar[t].view(-1, 1, 1, 1).double()
        x0 = a.sqrt() * s ** 2 / (a * s ** 2 + 1 - a) * x_t
        return ((x_t - a.sqrt() * x0) / (1 - a).sqrt()).float()

    x_T, a = torch.randn(256, 1, 2, 2, generator=make_generator(0)), d.alpha_bar[-1].double()
    return d, exact_eps, x_T, x_T.double() * s / (a * s ** 2 + 1 - a).sqrt()


def _ode_error(spec: str) -> float:
    d, exact_eps, x_T, exact = _gaussian_problem()
    for out in reverse_process(exact_eps, d, x_T, spec):
        pass
    return float((out["sample"].double() - exact).abs().max())


def test_heun_is_second_order_and_ddim_first_order():
    """Halving the step size divides Euler's (DDIM's) error by about 2 and Heun's by about 4, on an ODE
    whose solution is known; and at equal network calls (39 against 40) Heun is closer."""
    ddim = [_ode_error(f"ddim:{n}") for n in (20, 40)]
    heun = [_ode_error(f"heun:{n}") for n in (20, 40)]
    assert 1.6 < ddim[0] / ddim[1] < 2.4
    assert heun[0] / heun[1] > 3.5
    assert heun[0] < ddim[1] / 1.5


def test_the_solvers_first_steps_are_ddim_steps():
    """DPM-Solver++ has no earlier estimate on its first step, and Heun's last step has no end point
    to correct with: both are then exactly the DDIM (Euler) step."""
    d, exact_eps, x_T, _ = _gaussian_problem()
    chain = d.respaced(10)
    _, x0 = denoise(exact_eps, chain, x_T, 9)
    assert torch.equal(dpmpp_2m_step(chain, 9, x_T, x0, history=History(exact_eps)), ddim_step(chain, 9, x_T, x0))
    _, x0 = denoise(exact_eps, chain, x_T, 0)
    assert torch.equal(heun_step(chain, 0, x_T, x0, history=History(exact_eps)), ddim_step(chain, 0, x_T, x0))
    with pytest.raises(ValueError, match="heun_step calls the network a second time"):
        heun_step(chain, 5, x_T, x0)
