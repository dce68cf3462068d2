"""Checkpoints: round trip, atomic writes, and errors that name the file and the problem."""
import pytest
import torch

from conftest import tiny_config
from helpers.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from helpers.train import train


@pytest.fixture
def trained(tiny_data, tmp_path):
    path = tmp_path / "model.pt"
    state = train(tiny_config(max_steps=2, num_classes=10), tiny_data, out=path,
                  device=torch.device("cpu"), progress=False)
    return state, path


def test_round_trip_rebuilds_the_same_model(trained):
    state, path = trained
    model, diffusion, config = load_model(path, use_ema=False)
    assert config == state.config and diffusion.T == state.config.T
    x, t, y = torch.randn(2, 1, 28, 28), torch.tensor([1, 5]), torch.tensor([3, 10])
    state.model.eval()
    assert torch.equal(model(x, t, y), state.model(x, t, y))
    ema_model, _, _ = load_model(path)
    assert torch.equal(ema_model(x, t, y), state.ema(x, t, y))


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint .*nope\.pt does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_corrupt_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match=r"bad\.pt is corrupt"):
        load_checkpoint(bad)


def test_truncated_file(trained, tmp_path):
    _, path = trained
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match=r"cut\.pt is corrupt"):
        load_checkpoint(cut)


def test_not_a_checkpoint_dict(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match=r"other\.pt lacks the keys"):
        load_checkpoint(other)


def test_weights_that_do_not_match_the_config(trained, tmp_path):
    _, path = trained
    state = torch.load(path, weights_only=True)
    state["config"]["base_channels"] = 16
    wrong = tmp_path / "wrong.pt"
    torch.save(state, wrong)
    with pytest.raises(CheckpointError, match=r"wrong\.pt does not match its own config"):
        load_model(wrong)


def test_unknown_config_field(trained, tmp_path):
    _, path = trained
    state = torch.load(path, weights_only=True)
    state["config"]["colour"] = "blue"
    odd = tmp_path / "odd.pt"
    torch.save(state, odd)
    with pytest.raises(CheckpointError, match=r"odd\.pt has an invalid config: .*unknown fields \['colour'\]"):
        load_checkpoint(odd)


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint({"config": tiny_config().to_dict(), "model": {}, "step": 1}, path)

    def broken(obj, f):
        open(f, "wb").write(b"half a file")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"config": tiny_config().to_dict(), "model": {}, "step": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_save_json_is_atomic_and_readable(tmp_path):
    import json

    from helpers.checkpoint import save_json
    path = save_json({"fid": torch.tensor(1.5).item(), "runs": [1, 2]}, tmp_path / "sub" / "r.json")
    assert json.loads(path.read_text()) == {"fid": 1.5, "runs": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]        # no temporary file left behind
