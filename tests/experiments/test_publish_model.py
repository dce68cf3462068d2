"""experiments.publish_model: a slim model file with its record, or a resumable copy between sittings."""
import json

import pytest
import torch

from experiments import publish_model
from helpers.io import load_checkpoint
from helpers.train import train
from tests.tiny import tiny_config


def _train(config, data, **kw):
    return train(config, data, device=torch.device("cpu"), progress=False, **kw)


def test_resumable_copy_continues_training_and_the_slim_copy_cannot(tiny_data, tmp_path):
    config = tiny_config(max_steps=6, num_classes=10, lr_schedule="cosine")
    straight = _train(config, tiny_data)
    run = tmp_path / "run.pt"

    def interrupt(state):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):     # the first sitting ends at step 3 of the planned 6
        _train(config, tiny_data, out=run, callback=interrupt, callback_every=3)
    for flag, out in (["--resumable"], tmp_path / "sitting.pt"), ([], tmp_path / "slim.pt"):
        publish_model.main([str(run), str(out), "--command", "python -m helpers train ...", *flag])
        record = json.loads(out.with_suffix(".json").read_text())
        assert record["steps"] == 3 and record["resumable"] == bool(flag)
        assert record["command"] == ["python -m helpers train ..."] and record["hardware"]["device"] == "cpu"
    assert "optimizer" in load_checkpoint(tmp_path / "sitting.pt")
    assert "optimizer" not in load_checkpoint(tmp_path / "slim.pt")
    resumed = _train(config, tiny_data, out=tmp_path / "sitting.pt", resume=True)
    assert resumed.step == 6 and resumed.losses == pytest.approx(straight.losses, rel=1e-6)
