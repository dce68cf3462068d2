"""Files: checkpoints (round trip, old names, errors that name the file), samples files, results files."""
import json

import pytest
import torch

from helpers.io import (CheckpointError, append_jsonl, load_checkpoint, load_model, load_samples, save_checkpoint,
                        save_json, save_samples, to_uint8, update_json)
from helpers.train import train
from tests.tiny import tiny_config


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


def test_checkpoints_from_before_the_rename_still_load(trained, tmp_path):
    """Old checkpoints (the committed models among them) call the schedule 'scaled_linear'."""
    _, path = trained
    state = torch.load(path, weights_only=True)
    state["config"]["schedule"], state["config"]["T"] = "scaled_linear", 300
    old = tmp_path / "old.pt"
    torch.save(state, old)
    assert load_checkpoint(old)["config"].schedule == "rescaled_linear"


def test_json_results_files_are_written_atomically(tmp_path):
    path = save_json({"fid": torch.tensor(1.5).item(), "runs": [1, 2]}, tmp_path / "sub" / "r.json")
    assert json.loads(path.read_text()) == {"fid": 1.5, "runs": [1, 2]}
    update_json(path, "floors", {"n": 3})
    assert json.loads(path.read_text()) == {"fid": 1.5, "runs": [1, 2], "floors": {"n": 3}}
    lines = tmp_path / "r.jsonl"
    append_jsonl({"a": 1}, lines)
    append_jsonl({"a": 2}, lines)
    assert [json.loads(x) for x in lines.read_text().splitlines()] == [{"a": 1}, {"a": 2}]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["r.json", "r.jsonl", "sub"]   # no temporary files


def test_samples_file_round_trip_and_its_preview(tmp_path):
    images = torch.linspace(-1, 1, 2 * 28 * 28).reshape(2, 1, 28, 28)
    path = save_samples(images, torch.tensor([1, 2]), tmp_path / "s.pt", {"seed": 3})
    stored, labels, meta = load_samples(path)
    assert stored.dtype == torch.uint8 and stored.shape == (2, 1, 28, 28) and stored.min() == 0 and stored.max() == 255
    assert labels.tolist() == [1, 2] and meta == {"seed": 3}
    assert (tmp_path / "s.png").stat().st_size > 0
    assert torch.equal(to_uint8(torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([0, 128, 255], dtype=torch.uint8))


def test_the_preview_of_many_samples_stays_small(tmp_path):
    from PIL import Image
    save_samples(torch.zeros(1000, 1, 28, 28), None, tmp_path / "many.pt")
    assert Image.open(tmp_path / "many.png").size == (10 * 30 + 2, 10 * 30 + 2)   # 100 images, 10 per row


def test_a_failed_samples_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def broken(obj, f):
        open(f, "wb").write(b"half")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_samples(torch.zeros(2, 1, 28, 28), None, tmp_path / "s.pt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [{"weights": torch.zeros(2)}, {"images": torch.zeros(2, 1, 28, 28)}])
def test_not_a_samples_file(tmp_path, content):
    torch.save(content, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match=r"x\.pt is not a samples file"):
        load_samples(tmp_path / "x.pt")
