"""CLIP's reading, on a tiny randomly initialised local model (the real weights need a download)."""
import pytest

from helpers.evaluation import clip as clip_module
from helpers.evaluation.clip import ClipUnavailable, clip_report, similarities, tiny_clip


def test_clip_runs_end_to_end_on_a_tiny_local_model(split):
    pytest.importorskip("open_clip", reason="open_clip_torch is not installed (see requirements.txt)")
    clip = tiny_clip(seed=0)
    real = split[1]
    sim = similarities(clip, real.images[:16])
    assert sim.shape == (16, 10) and sim.abs().max() <= 1 + 1e-5
    report = clip_report(clip, real.images[:16], real.labels[:16], "intended", real.images[16:32], real.labels[16:32])
    again = clip_report(tiny_clip(seed=0), real.images[:16], real.labels[:16], "intended",
                        real.images[16:32], real.labels[16:32])
    assert report == again
    assert 0 <= report["zero_shot_accuracy"] <= 1 and 0 <= report["clip_score"] <= 100
    assert report["real_digits"]["n"] == 16


def test_clip_without_weights_skips_in_one_line(monkeypatch):
    monkeypatch.setattr(clip_module, "_hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ClipUnavailable) as e:
        clip_module.load_clip()
    assert "no network" in str(e.value) and "pip install open_clip_torch" in str(e.value)
    assert "\n" not in str(e.value)
    monkeypatch.setitem(__import__("sys").modules, "open_clip", None)       # as if not installed
    with pytest.raises(ClipUnavailable, match="open_clip is not installed"):
        clip_module.load_clip()
