"""Pinned against an independent implementation: diffusers' DDPM, DDIM and DPM-Solver++ schedulers.

What agrees, to float32 round-off: the schedules, the forward process q(x_t | x0), one DDPM step
(its mean and its variance, drawn with the same noise) and whole DDIM chains, deterministic and
with eta > 0. Conventions, and where they differ:

- Timesteps are 0..T-1 in both, and alpha_bar[t] is diffusers' ``alphas_cumprod[t]``.
- Schedule names: our ``linear`` is diffusers' ``linear`` (beta 1e-4 to 0.02); our
  ``rescaled_linear`` is diffusers' ``linear`` with both end points times 1000/T; our ``cosine``
  is ``squaredcos_cap_v2``. Diffusers' ``scaled_linear`` is another schedule (linear in sqrt(beta)).
- The x0 estimate is clipped to [-1, 1] (diffusers: ``clip_sample=True``) and DDIM re-derives the
  noise from the clipped x0 (``use_clipped_model_output=True``); DDPM uses the posterior variance
  (``variance_type="fixed_small"``).
- DDIM's timesteps: ours are evenly spaced from 0 to T-1, both ends included, and each step
  goes to the previous *kept* timestep. Diffusers' ``"linspace"`` spacing keeps the same
  timesteps but steps from t to t - T // S, which is not the previous kept one; so the chains
  are compared on diffusers' ``"leading"`` spacing (0, 12, ..., 288 for T = 300, S = 25), which
  ``Diffusion.subset`` builds from the same timesteps.
- DPM-Solver++(2M) (``DPMSolverMultistepScheduler``, ``algorithm_type="dpmsolver++"``, order 2,
  last step first order) has no clipping of x0 in diffusers, so it is compared with a stand-in
  network whose clean-image estimate stays inside (-1, 1), on diffusers' ``"leading"`` timesteps.
- Precision: our schedule is computed in float64 and stored in float32; diffusers computes it in
  float32, where 1 - alpha_bar at t = 1 keeps only about four digits. The largest step
  difference, about 3e-5, comes from there.
"""
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from helpers.device import make_generator
from helpers.samplers import ddim_step, ddpm_step, denoise, reverse_process
from helpers.schedule import Diffusion

T = 300
SCHEDULES = {  # ours -> diffusers' settings
    ("linear", 1000): dict(beta_schedule="linear", beta_start=1e-4, beta_end=0.02),
    ("linear", 300): dict(beta_schedule="linear", beta_start=1e-4, beta_end=0.02),
    ("rescaled_linear", 300): dict(beta_schedule="linear", beta_start=1e-4 * 1000 / 300, beta_end=0.02 * 1000 / 300),
    ("cosine", 300): dict(beta_schedule="squaredcos_cap_v2"),
}


def theirs(kind: str, steps: int, cls=DDPMScheduler, **extra):
    return cls(num_train_timesteps=steps, clip_sample=True, **SCHEDULES[(kind, steps)], **extra)


def eps_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A fixed, smooth stand-in for a trained network: any function of (x_t, t) will do."""
    return torch.tanh(0.7 * x + (t.float() / T).view(-1, 1, 1, 1) - 0.3)


def max_differences() -> dict[str, float]:
    """The largest absolute difference between ours and diffusers', per quantity (the table of the docs)."""
    out = {}
    for (kind, steps) in SCHEDULES:
        d, s = Diffusion(steps, kind), theirs(kind, steps)
        out[f"betas, {kind} T={steps}"] = float((d.betas - s.betas).abs().max())
        out[f"alpha_bar, {kind} T={steps}"] = float((d.alpha_bar - s.alphas_cumprod).abs().max())
    d, s = Diffusion(T, "rescaled_linear"), theirs("rescaled_linear", T)
    g = make_generator(0)
    x0, noise = torch.rand(8, 1, 28, 28, generator=g) * 2 - 1, torch.randn(8, 1, 28, 28, generator=g)
    t = torch.tensor([0, 1, 50, 100, 150, 200, 250, 299])
    out["q_sample (forward process)"] = float((d.q_sample(x0, t, noise) - s.add_noise(x0, noise, t)).abs().max())
    out.update(_ddpm_step_differences(d, s))
    for eta in (0.0, 0.5):
        out[f"DDIM chain, 25 steps, eta={eta}"] = _ddim_chain_difference(eta)
    for steps in (5, 10, 25):
        out[f"DPM-Solver++(2M) chain, {steps} steps"] = _dpm_solver_chain_difference(steps)
    return out


def _ddpm_step_differences(d: Diffusion, s: DDPMScheduler) -> dict[str, float]:
    x_t = torch.randn(4, 1, 28, 28, generator=make_generator(1))
    step, variance = 0.0, 0.0
    for t in (299, 150, 10, 1, 0):
        _, x0 = denoise(eps_model, d, x_t, t)
        ours = ddpm_step(d, t, x_t, x0, make_generator(2))
        ref = s.step(eps_model(x_t, torch.full((4,), t)), t, x_t, generator=make_generator(2)).prev_sample
        step = max(step, float((ours - ref).abs().max()))
        variance = max(variance, abs(float(d.posterior_variance[t]) - (float(s._get_variance(t)) if t > 0 else 0.0)))
    return {"DDPM step (mean + sigma z, same z)": step, "DDPM step variance": variance}


def _ddim_chain_difference(eta: float) -> float:
    s = theirs("rescaled_linear", T, DDIMScheduler, set_alpha_to_one=True, timestep_spacing="leading")
    s.set_timesteps(25)
    chain = Diffusion(T, "rescaled_linear").subset(s.timesteps.flip(0))
    x = ref = torch.randn(4, 1, 28, 28, generator=make_generator(3))
    g_ours, g_ref = make_generator(4), make_generator(4)
    for i, t in zip(reversed(range(chain.T)), s.timesteps):
        _, x0 = denoise(eps_model, chain, x, i)
        x = ddim_step(chain, i, x, x0, g_ours, eta)
        ref = s.step(eps_model(ref, torch.full((4,), int(t))), int(t), ref, eta=eta,
                     use_clipped_model_output=True, generator=g_ref).prev_sample
    return float((x - ref).abs().max())


def _dpm_solver_chain_difference(steps: int, d: Diffusion | None = None) -> float:
    d = d or Diffusion(T, "rescaled_linear")
    s = DPMSolverMultistepScheduler(num_train_timesteps=T, **SCHEDULES[("rescaled_linear", T)],
                                    algorithm_type="dpmsolver++", solver_order=2, timestep_spacing="leading",
                                    lower_order_final=True, final_sigmas_type="zero")
    s.set_timesteps(steps)
    alpha_bar = s.alphas_cumprod

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:     # x0 = 0.9 tanh(...): never clipped
        a = alpha_bar[t].view(-1, 1, 1, 1)
        return (x - a.sqrt() * 0.9 * torch.tanh(0.7 * x + (t.float() / T).view(-1, 1, 1, 1) - 0.3)) / (1 - a).sqrt()

    x = ref = torch.randn(4, 1, 28, 28, generator=make_generator(3))
    for out in reverse_process(model, d.subset(s.timesteps.flip(0)), x, "dpm++"):
        pass
    for t in s.timesteps:
        ref = s.step(model(ref, torch.full((4,), int(t))), int(t), ref).prev_sample
    return float((out["sample"] - ref).abs().max())


def test_schedules_forward_process_and_steps_agree_with_diffusers():
    diffs = max_differences()
    assert len(diffs) == 2 * len(SCHEDULES) + 8
    for what, diff in diffs.items():
        assert diff < (1e-4 if "step" in what or "chain" in what else 1e-5), f"{what}: differs by {diff:.2e}"


def test_a_deliberate_error_would_be_caught():
    """The comparison can fail: a DDPM step with the posterior variance doubled is far off."""
    d, s = Diffusion(T, "rescaled_linear"), theirs("rescaled_linear", T)
    d.posterior_variance = 2 * d.posterior_variance
    assert _ddpm_step_differences(d, s)["DDPM step (mean + sigma z, same z)"] > 1e-3


def test_a_wrong_multistep_weight_would_be_caught(monkeypatch):
    """The DPM-Solver++ comparison can fail: treating every step as first order (DDIM) is far off."""
    import helpers.samplers as samplers
    monkeypatch.setitem(samplers.STEPS, "dpm++", samplers.ddim_step)
    assert _dpm_solver_chain_difference(10) > 1e-3


@pytest.mark.parametrize("kind", ["linear", "rescaled_linear", "cosine"])
def test_our_names_are_not_diffusers_scaled_linear(kind):
    """The trap for students moving to diffusers: its 'scaled_linear' is none of ours."""
    d = Diffusion(T, kind)
    other = DDPMScheduler(num_train_timesteps=T, beta_schedule="scaled_linear")
    assert (d.betas - other.betas).abs().max() > 1e-3
