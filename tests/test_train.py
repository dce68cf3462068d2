"""The objective and the training loop: loss scale, budgets, exact resume, the NaN stop, callbacks, EMA."""
import math

import pytest
import torch

from helpers.data import ImageSet
from helpers.io import load_checkpoint
from helpers.schedule import Diffusion
from helpers.train import (TrainingDiverged, drop_labels, learning_rate, lognormal_timesteps, noise_prediction_loss, train,
                           update_ema)
from tests.tiny import interrupt_at, tiny_config, train_cpu as _train


def test_max_steps_budget_and_loss_history(tiny_data):
    state = _train(tiny_config(max_steps=5), tiny_data)
    assert state.step == 5 and len(state.losses) == 5
    assert state.stop_reason == "reached 5 steps"
    assert all(l > 0 for l in state.losses)


def test_epoch_budget(tiny_data):
    state = _train(tiny_config(max_steps=None, epochs=2), tiny_data)
    assert state.step == 2 * (64 // 16)


def test_time_budget_stops_the_run(tiny_data):
    state = _train(tiny_config(max_steps=None, epochs=None, max_minutes=0.002), tiny_data)
    assert state.stop_reason.startswith("reached the time budget") and state.elapsed_s >= 0.12


def test_interrupted_run_resumes_exactly(tiny_data, tmp_path, capsys):
    config = tiny_config(max_steps=6, num_classes=10, lr_schedule="cosine")
    straight = _train(config, tiny_data)
    ckpt = tmp_path / "run.pt"

    interrupt_at(config, tiny_data, ckpt, step=3)
    assert load_checkpoint(ckpt)["step"] == 3
    assert "interrupted at step 3" in capsys.readouterr().out
    resumed = _train(config, tiny_data, out=ckpt, resume=True)
    assert resumed.step == 6
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-6)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)
    for a, b in zip(straight.ema.state_dict().values(), resumed.ema.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_sitting_pauses_and_resume_finishes_the_same_run(tiny_data, tmp_path):
    """sitting_minutes stops one call early; the schedule is the full run's, so the result is too."""
    import time
    config = tiny_config(max_steps=6, num_classes=10, lr_schedule="cosine")
    straight = _train(config, tiny_data)
    ckpt = tmp_path / "run.pt"
    first = _train(config, tiny_data, out=ckpt, sitting_minutes=0.1 / 60,
                   callback=lambda state: time.sleep(0.06), callback_every=1)
    assert 1 <= first.step < 6 and first.stop_reason.startswith("paused after this sitting")
    assert load_checkpoint(ckpt)["step"] == first.step
    resumed = _train(config, tiny_data, out=ckpt, resume=True)
    assert resumed.step == 6 and resumed.stop_reason == "reached 6 steps"
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-6)
    with pytest.raises(ValueError, match="sitting_minutes must be positive"):
        _train(config, tiny_data, sitting_minutes=0)


def test_nan_loss_stops_with_a_message(tmp_path):
    images = torch.full((32, 1, 28, 28), float("nan"))
    data = ImageSet(images, torch.zeros(32, dtype=torch.long), "nan", ("0",))
    with pytest.raises(TrainingDiverged, match="loss became non-finite at step 0"):
        _train(tiny_config(), data, out=tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_callback_sees_progress(tiny_data):
    seen = []
    _train(tiny_config(max_steps=4), tiny_data, callback=lambda s: seen.append(s.step), callback_every=2)
    assert seen == [2, 4, 4]


def test_data_that_does_not_fit_the_config(tiny_data):
    with pytest.raises(ValueError, match=r"data images have shape \(1, 28, 28\) but the config expects \(3, 32, 32\)"):
        _train(tiny_config(channels=3, image_size=32), tiny_data)


def test_label_dropout_rate():
    y = torch.zeros(20000, dtype=torch.long)
    dropped = drop_labels(y, 0.1, 10, torch.Generator().manual_seed(0))
    assert set(dropped.unique().tolist()) == {0, 10}
    assert (dropped == 10).float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert torch.equal(drop_labels(y, 0.0, 10, None), y)


def test_warmup_and_cosine_learning_rate():
    config = tiny_config(lr=1e-3, warmup_steps=10, lr_schedule="cosine")
    assert learning_rate(config, 0, 0.0) == pytest.approx(1e-4)
    assert learning_rate(config, 50, 0.5) == pytest.approx(5e-4)
    assert learning_rate(config, 99, 1.0) == pytest.approx(0.0)


def test_ema_moves_towards_the_weights():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = a.weight.clone()
    update_ema(a, b, decay=0.9, step=1000)
    assert torch.allclose(a.weight, 0.9 * before + 0.1 * b.weight)


def test_min_snr_training_weights_the_loss_and_its_checkpoint_keeps_gamma(tiny_data, tmp_path):
    """The same first batch, noise and weights: min-SNR weights are at most 1, and below 1 for the
    low-noise steps of this chain, so the first loss is smaller than the plain one."""
    plain = _train(tiny_config(max_steps=1), tiny_data)
    state = _train(tiny_config(max_steps=3, min_snr_gamma=5.0), tiny_data, out=tmp_path / "m.pt")
    assert all(math.isfinite(x) for x in state.losses) and state.losses[0] < plain.losses[0]
    assert load_checkpoint(tmp_path / "m.pt")["config"].min_snr_gamma == 5.0


def test_model_trains_in_channels_last(tiny_data):
    """Channels-last is a memory layout only: same shapes, faster convolutions on CPU."""
    state = train(tiny_config(max_steps=1), tiny_data, progress=False)
    assert state.model.stem.weight.is_contiguous(memory_format=torch.channels_last)


def test_loss_of_the_zero_predictor_is_about_one():
    loss = noise_prediction_loss(Diffusion(300, "linear"), lambda x, t: torch.zeros_like(x),
                                 torch.zeros(256, 1, 28, 28), torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx(1.0, abs=0.01)


def test_min_snr_weighting_matches_its_formula():
    """With gamma above every SNR the weights are all 1 (plain loss); with gamma = 1 each image's
    MSE is scaled by min(SNR, 1) / SNR, computed here by hand from the same t and noise."""
    d = Diffusion(50, "linear")
    x0 = torch.rand(64, 1, 28, 28) * 2 - 1
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731  MSE is then mean(noise^2) per image
    loss = lambda gamma=None: noise_prediction_loss(d, zero, x0, torch.Generator().manual_seed(3), gamma)  # noqa: E731
    plain = loss()
    assert torch.equal(loss(float(d.snr().max()) + 1), plain)
    g = torch.Generator().manual_seed(3)
    t = d.sample_timesteps(64, g)
    noise = torch.randn(x0.shape, generator=g)
    snr = d.snr()[t]
    expected = (noise.square().flatten(1).mean(1) * snr.clamp(max=1.0) / snr).mean()
    assert loss(1.0).item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss(1.0) < plain          # the low-noise steps (SNR > 1) count less


def test_loss_at_given_timesteps_uses_them():
    d, seen = Diffusion(50, "linear"), []
    model = lambda x, t: seen.append(t) or torch.zeros_like(x)  # noqa: E731
    noise_prediction_loss(d, model, torch.zeros(4, 1, 2, 2), torch.Generator().manual_seed(0), t=torch.tensor([7] * 4))
    assert seen[0].tolist() == [7] * 4


def test_lognormal_timesteps_follow_edm_noise_distribution():
    """A draw at exactly ln sigma_t returns t; many draws have the median ln sigma EDM asks for
    (-1.2), while uniform timesteps on this chain have a far higher one."""
    d = Diffusion(300, "rescaled_linear")
    log_sigma = -d.snr().log() / 2
    for k in (0, 57, 150, 299):
        assert torch.equal(lognormal_timesteps(d, 5, mean=float(log_sigma[k]), std=0.0), torch.full((5,), k))
    t = lognormal_timesteps(d, 20_000, torch.Generator().manual_seed(0))
    assert t.dtype == torch.long and 0 <= int(t.min()) and int(t.max()) <= 299
    assert float(log_sigma[t].median()) == pytest.approx(-1.2, abs=0.05)
    assert float(log_sigma[d.sample_timesteps(20_000, torch.Generator().manual_seed(0))].median()) > 0
    again = lambda seed: lognormal_timesteps(d, 100, torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(again(1), again(1)) and not torch.equal(again(1), again(2))


def test_training_with_lognormal_timesteps_draws_them_and_its_checkpoint_says_so(tiny_data, tmp_path, monkeypatch):
    import helpers.train as train_module
    drawn = []

    def spy(*args, **kwargs):
        drawn.append(lognormal_timesteps(*args, **kwargs))
        return drawn[-1]
    monkeypatch.setattr(train_module, "lognormal_timesteps", spy)
    state = _train(tiny_config(max_steps=3, timesteps="lognormal"), tiny_data, out=tmp_path / "l.pt")
    assert len(drawn) == 3 and all(math.isfinite(x) for x in state.losses)
    assert load_checkpoint(tmp_path / "l.pt")["config"].timesteps == "lognormal"
