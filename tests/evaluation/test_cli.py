"""``python -m helpers evaluate``: the report on a samples file, as JSON or text, and one-line errors."""
import json

import pytest
import torch

from helpers.__main__ import main
from helpers.evaluation import clip as clip_module
from helpers.evaluation.clip import tiny_clip
from helpers.io import save_samples


@pytest.fixture
def samples_file(split, tmp_path):
    real = split[1]
    return save_samples(real.images[:200], real.labels[:200], tmp_path / "samples.pt", {"seed": 0})


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.filterwarnings("ignore::helpers.data.DataFallbackWarning")
def test_cli_evaluate_json_is_one_object(samples_file, real, capsys, monkeypatch):
    monkeypatch.setattr(clip_module, "_hub_reachable", lambda timeout=3.0: False)   # never download here
    monkeypatch.setattr("helpers.evaluation.fid.load_real_images", lambda *a, **k: real)  # cached features
    code, out, err = _run(capsys, "evaluate", str(samples_file), "--json", "--device", "cpu")
    assert code == 0, err
    r = json.loads(out)
    assert r["n"] == 200 and r["labels_given"] and r["accuracy"] >= 0.97
    assert r["floor"]["n"] == 200 and r["distances"]["fid"] < 3 * r["floor"]["fid"] + 1
    assert "skipped" in r["clip"] and "CLIP score skipped" in err


def test_cli_evaluate_text(samples_file, capsys):
    code, out, _ = _run(capsys, "evaluate", str(samples_file), "--no-fid", "--no-clip")
    assert code == 0 and "accuracy vs intended labels" in out and "mode coverage" in out and "FID" not in out


def test_cli_evaluate_with_clip_on_the_tiny_model(samples_file, real, capsys, monkeypatch):
    """The whole CLIP branch of 'evaluate' (samples and real digits), with the tiny model standing in."""
    pytest.importorskip("open_clip", reason="open_clip_torch is not installed (see requirements.txt)")
    monkeypatch.setattr(clip_module, "load_clip", lambda *a, **k: tiny_clip(seed=0))
    monkeypatch.setattr("helpers.evaluation.fid.load_real_images", lambda *a, **k: real)
    code, out, err = _run(capsys, "evaluate", str(samples_file), "--clip-real", "50", "--device", "cpu")
    assert code == 0, err
    assert "CLIP (tiny random CLIP (seed 0), labels: intended)" in out and "CLIP on 50 real test digits" in out
    assert "FID" in out and "floor" in out


@pytest.mark.parametrize("content,message", [
    (None, "does not exist"),
    (b"garbage", "is corrupt"),
    ({"pictures": 1}, "is not a samples file"),
    ({"images": torch.zeros(2, 1, 28, 28), "labels": None}, "is not a samples file"),
    ({"images": torch.zeros(2, 3, 32, 32, dtype=torch.uint8), "labels": None}, "shape (N, 1, 28, 28)"),
    ({"images": torch.zeros(2, 1, 28, 28, dtype=torch.uint8), "labels": torch.zeros(3)}, "labels must"),
])
def test_cli_evaluate_bad_files_are_one_line(content, message, tmp_path, capsys):
    path = tmp_path / "s.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    code, out, err = _run(capsys, "evaluate", str(path), "--no-fid", "--no-clip")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and out == ""


def test_cli_evaluate_missing_classifier(samples_file, tmp_path, capsys):
    code, _, err = _run(capsys, "evaluate", str(samples_file), "--classifier", str(tmp_path / "no.pt"), "--no-fid")
    assert code == 2 and "does not exist; train one" in err and len(err.strip().splitlines()) == 1


def test_cli_evaluate_picks_the_judge_of_the_samples_data_set(split, tmp_path, capsys):
    real = split[1]
    path = save_samples(real.images[:20], real.labels[:20], tmp_path / "f.pt", {"dataset": "fashion"})
    code, out, err = _run(capsys, "evaluate", str(path), "--json", "--no-fid", "--no-clip")
    assert code == 0, err
    r = json.loads(out)
    assert r["classifier"]["dataset"] == "fashion" and r["classifier"]["path"].endswith("fashion_classifier.pt")


def test_cli_evaluate_refuses_a_judge_of_another_data_set(split, tmp_path, capsys):
    real = split[1]
    path = save_samples(real.images[:20], real.labels[:20], tmp_path / "f.pt", {"dataset": "fashion"})
    code, _, err = _run(capsys, "evaluate", str(path), "--classifier", "models/digit_classifier.pt", "--no-fid")
    assert code == 2 and "judges mnist images, not fashion" in err and "fashion_classifier.pt" in err
    assert len(err.strip().splitlines()) == 1
