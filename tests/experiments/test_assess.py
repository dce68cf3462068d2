"""experiments.assess: the reference passes and a 300-step model fails, at n = 200 digits each;
files that cannot be graded get a line saying why; the CSV has a line per checkpoint; the pass mark is printed."""
import contextlib
import csv
import io
import math
import shutil
from pathlib import Path

import pytest
import torch

from experiments import assess
from helpers.io import REFERENCE_MODELS, ROOT, save_checkpoint
from helpers.schedule import diffusion_from_config
from tests.tiny import tiny_config, tiny_model

FIXTURE = Path(__file__).parents[1] / "fixtures" / "ddpm_300.pt"     # tests/fixtures/README.md: how it was made
N = 200


def _save(config, path: Path, state: dict | None = None) -> None:
    save_checkpoint({"config": config.to_dict(), "model": state or tiny_model(config).state_dict(), "step": 1}, path)


@pytest.fixture(scope="module")
def run(judge, tmp_path_factory):
    """The command on a folder of two real students and four that cannot be graded: (stdout, CSV rows)."""
    folder = tmp_path_factory.mktemp("students")
    shutil.copy(ROOT / REFERENCE_MODELS["mnist"], folder / "reference.pt")
    shutil.copy(FIXTURE, folder / "steps300.pt")
    (folder / "corrupt.pt").write_bytes(b"not a checkpoint")
    _save(tiny_config(), folder / "unconditional.pt")
    _save(tiny_config(method="flow", num_classes=10), folder / "flow.pt")
    wide = tiny_config(num_classes=10, base_channels=16)
    _save(tiny_config(num_classes=10), folder / "mismatch.pt", tiny_model(wide).state_dict())
    out = folder / "grades.csv"
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(io.StringIO()) as printed:
        mp.setattr(assess, "load_judge", lambda device: judge)
        assess.main([str(folder), "--out", str(out), "--n", str(N)])
    with open(out, newline="") as f:
        rows = {row["file"]: row for row in csv.DictReader(f)}
    return printed.getvalue(), rows


def test_the_reference_passes_and_a_300_step_model_fails_clearly(run):
    _, rows = run
    ref, weak = rows["reference.pt"], rows["steps300.pt"]
    assert (ref["result"], weak["result"]) == ("pass", "fail")
    assert float(ref["accuracy"]) >= assess.PASS_ACCURACY and float(ref["fid_over_floor"]) <= assess.PASS_FID_OVER_FLOOR
    # apart by a wide margin, not by the noise of 200 digits
    assert float(weak["accuracy"]) < assess.PASS_ACCURACY - 0.3
    assert float(weak["fid_over_floor"]) > 3 * assess.PASS_FID_OVER_FLOOR
    assert "accuracy" in weak["reason"] and "FID" in weak["reason"]
    assert ref["floor"] == weak["floor"]                           # one floor: n real digits, the same seed


@pytest.mark.parametrize("name, why", [("corrupt.pt", "corrupt or not a torch file"),
                                       ("unconditional.pt", "the model is unconditional"),
                                       ("flow.pt", "this is a flow-matching model"),
                                       ("mismatch.pt", "does not match its own config")])
def test_a_file_that_cannot_be_graded_gets_a_line_with_its_reason(run, name, why):
    printed, rows = run
    row = rows[name]
    assert row["result"] == "fail" and row["reason"].startswith("not graded: ") and why in row["reason"]
    assert (row["accuracy"], row["fid"]) == ("", "")
    assert f"| {name} |" in printed and "Traceback" not in printed


def test_the_csv_has_a_line_per_checkpoint_and_the_pass_mark_is_printed(run):
    printed, rows = run
    assert sorted(rows) == sorted(["reference.pt", "steps300.pt", "corrupt.pt", "unconditional.pt", "flow.pt",
                                   "mismatch.pt"])
    assert printed.startswith(assess.PASS_MARK) and "95%" in assess.PASS_MARK and "3 x the floor" in assess.PASS_MARK
    assert "1 of 6 passed" in printed


def test_grade_takes_a_path_or_a_model_and_gives_the_same_grade(judge, tmp_path):
    """From a notebook: a checkpoint path and (model, diffusion) grade alike; an x0-predicting DDPM is graded."""
    config = tiny_config(num_classes=10, prediction="x0")
    _save(config, tmp_path / "x0.pt")
    settings = dict(judge=judge, n=20, steps=5, device="cpu")
    by_path = assess.grade(tmp_path / "x0.pt", **settings)
    from helpers.prediction import NoiseFrom
    diffusion = diffusion_from_config(config)
    by_model = assess.grade((NoiseFrom(tiny_model(config), "x0", diffusion.alpha_bar), diffusion), **settings)
    assert by_path.file == "x0.pt" and by_path.n == 20 and not by_path.passed
    assert by_model.accuracy == pytest.approx(by_path.accuracy, abs=0.051)      # one digit of 20 may differ
    assert (by_model.fid, by_model.floor) == pytest.approx((by_path.fid, by_path.floor), rel=0.02)


def test_verdict_names_what_fell_short_and_fails_a_nan():
    assert assess.verdict(0.99, 1.5)[0]
    assert assess.verdict(0.94, 1.5) == (False, "accuracy 94.0% < 95%")
    assert assess.verdict(0.99, 3.5) == (False, "FID 3.50 x the floor > 3")
    assert not assess.verdict(math.nan, math.nan)[0]


def test_bad_arguments_are_one_line_errors(tmp_path):
    with pytest.raises(SystemExit, match="is not a folder"):
        assess.main([str(tmp_path / "missing")])
    with pytest.raises(SystemExit, match="no checkpoints"):
        assess.main([str(tmp_path)])
    (tmp_path / "a.pt").write_bytes(b"")
    with pytest.raises(SystemExit, match="--n and --steps must be at least 2"):
        assess.main([str(tmp_path), "--n", "1"])
    with pytest.raises(TypeError, match="grade takes a checkpoint path, a TrainState or"):
        assess.grade(torch.zeros(1), judge=(None, None), device="cpu")
