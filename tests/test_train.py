"""Training loop: budgets, exact resume, the NaN stop, callbacks, EMA."""
import math

import pytest
import torch

from conftest import import_script, tiny_config
from helpers.checkpoint import load_checkpoint
from helpers.config import Config
from helpers.data import ImageSet
from helpers.train import TrainingDiverged, drop_labels, learning_rate, train, update_ema


def _train(config, data, **kw):
    return train(config, data, device=torch.device("cpu"), progress=False, **kw)


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

    def interrupt(state):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        _train(config, tiny_data, out=ckpt, callback=interrupt, callback_every=3)
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
    with pytest.raises(TrainingDiverged, match="loss became nan at step 0"):
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


@pytest.mark.parametrize("field, value, message", [
    ("ema_decay", 1.5, r"ema_decay must be in \(0, 1\) or None, got 1.5"),
    ("min_snr_gamma", 0.0, r"min_snr_gamma must be positive or None, got 0.0"),
])
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**{field: value})


def test_seed_report_config_keeps_the_seeds_settings():
    seed, default = Config.seed_report(), Config()
    assert (seed.schedule, seed.batch_size, seed.lr, seed.lr_schedule) == ("linear", 128, 1e-4, "constant")
    assert seed.ema_decay is None and seed.num_classes is None and seed.grad_clip is None
    assert (default.batch_size, default.base_channels) == (64, 16)     # what the course changed


def test_min_snr_training_runs_and_is_stored(tiny_data):
    state = train(tiny_config(max_steps=3, min_snr_gamma=5.0), tiny_data, progress=False)
    assert state.step == 3 and state.config.min_snr_gamma == 5.0
    assert all(math.isfinite(x) for x in state.losses)


def test_model_trains_in_channels_last(tiny_data):
    """Channels-last is a memory layout only: same shapes, faster convolutions on CPU."""
    state = train(tiny_config(max_steps=1), tiny_data, progress=False)
    assert state.model.stem.weight.is_contiguous(memory_format=torch.channels_last)


def test_make_reference_resumable_copy_continues_training(tiny_data, tmp_path):
    """scripts/make_reference.py --resumable keeps what --resume needs; the slim copy cannot resume."""
    import json
    make_reference = import_script("make_reference")
    config = tiny_config(max_steps=6, num_classes=10, lr_schedule="cosine")
    straight = _train(config, tiny_data)
    run = tmp_path / "run.pt"

    def interrupt(state):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):     # the first sitting ends at step 3 of the planned 6
        _train(config, tiny_data, out=run, callback=interrupt, callback_every=3)
    for flag, out in (["--resumable"], tmp_path / "sitting.pt"), ([], tmp_path / "slim.pt"):
        make_reference.main([str(run), str(out), "--command", "python -m helpers train ...", *flag])
        record = json.loads(out.with_suffix(".json").read_text())
        assert record["steps"] == 3 and record["resumable"] == bool(flag)
    assert "optimizer" in load_checkpoint(tmp_path / "sitting.pt")
    assert "optimizer" not in load_checkpoint(tmp_path / "slim.pt")
    resumed = _train(config, tiny_data, out=tmp_path / "sitting.pt", resume=True)
    assert resumed.step == 6 and resumed.losses == pytest.approx(straight.losses, rel=1e-6)
