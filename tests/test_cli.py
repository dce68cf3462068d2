"""The command line: a real train -> sample round trip, and one-line errors for bad input."""
import subprocess
import sys

import pytest
import torch

from helpers.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "tiny.pt"
    assert main(["train", "--out", str(path), "--max-steps", "3", "--batch-size", "8",
                 "--conditional", "--no-progress", "--device", "cpu"]) == 0
    return path


def test_train_then_sample(checkpoint, tmp_path, capsys):
    out = tmp_path / "samples.pt"
    code, stdout, _ = _run(capsys, "sample", "--checkpoint", str(checkpoint), "--n", "4",
                           "--steps", "5", "--labels", "balanced", "--guidance", "2", "--out", str(out))
    assert code == 0 and "wrote 4 images" in stdout
    data = torch.load(out)
    assert data["images"].dtype == torch.uint8 and data["images"].shape == (4, 1, 28, 28)
    assert data["labels"].tolist() == [0, 1, 2, 3]
    assert out.with_suffix(".png").exists()


def test_ddim_sampler_and_its_flags(checkpoint, tmp_path, capsys):
    out = tmp_path / "ddim.pt"
    code, stdout, _ = _run(capsys, "sample", "--checkpoint", str(checkpoint), "--n", "3", "--sampler", "ddim",
                           "--steps", "4", "--eta", "0.5", "--labels", "7", "--guidance", "3", "--out", str(out))
    assert code == 0 and "(ddim, 4 steps" in stdout
    meta = torch.load(out)["meta"]
    assert (meta["sampler"], meta["steps"], meta["eta"], meta["guidance"]) == ("ddim", 4, 0.5, 3.0)
    code, stdout, _ = _run(capsys, "sample", "--checkpoint", str(checkpoint), "--n", "1", "--sampler", "ddim",
                           "--out", str(out))
    assert code == 0 and "(ddim, 50 steps" in stdout                       # DDIM defaults to 50 steps


@pytest.mark.parametrize("extra,message", [
    (["--eta", "1"], "--eta applies to --sampler ddim only"),
    (["--sampler", "ddim", "--eta", "-1"], "--eta must be >= 0, got -1.0"),
    (["--steps", "400"], "--steps must be between 2 and the model's T=300, got 400"),
    (["--sampler", "plms"], "invalid choice: 'plms'"),
])
def test_bad_sampler_flags(checkpoint, tmp_path, capsys, extra, message):
    code, _, stderr = _run(capsys, "sample", "--checkpoint", str(checkpoint), "--n", "1",
                           "--out", str(tmp_path / "o.pt"), *extra)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1


def test_conditional_is_the_default_and_unconditional_is_a_flag(tmp_path):
    from helpers.checkpoint import load_checkpoint
    base = ["train", "--max-steps", "1", "--batch-size", "4", "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "c.pt")]) == 0
    assert main(base + ["--out", str(tmp_path / "u.pt"), "--unconditional"]) == 0
    assert load_checkpoint(tmp_path / "c.pt")["config"].num_classes == 10
    assert load_checkpoint(tmp_path / "u.pt")["config"].num_classes is None
    assert main(base + ["--out", str(tmp_path / "x.pt"), "--conditional", "--unconditional"]) == 2


def test_architecture_and_ema_flags_reach_the_config(tmp_path):
    from helpers.checkpoint import load_checkpoint
    out = tmp_path / "a.pt"
    assert main(["train", "--max-steps", "1", "--batch-size", "4", "--no-progress", "--out", str(out),
                 "--base-channels", "8", "--channel-mults", "1,2", "--ema-decay", "0.99"]) == 0
    config = load_checkpoint(out)["config"]
    assert (config.base_channels, config.channel_mults, config.ema_decay) == (8, (1, 2), 0.99)


def test_resume_continues_the_step_count(checkpoint, capsys):
    code, stdout, _ = _run(capsys, "train", "--out", str(checkpoint), "--max-steps", "5",
                           "--batch-size", "8", "--conditional", "--resume", "--no-progress")
    assert code == 0 and "trained 5 steps" in stdout


@pytest.mark.parametrize("argv,message", [
    (["sample", "--checkpoint", "missing.pt", "--n", "2", "--out", "x.pt"], "missing.pt does not exist"),
    (["sample", "--n", "2", "--out", "x.pt"], "the following arguments are required: --checkpoint"),
    (["train", "--out", "x.pt", "--epochs", "0"], "must be a positive integer, got 0"),
    (["train", "--out", "x.pt", "--sitting-minutes", "-5"], "--sitting-minutes"),
    (["train", "--out", "x.pt", "--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["fly"], "invalid choice: 'fly'"),
    (["train", "--out", "x.pt", "--channel-mults", "1,x"], "--channel-mults expects positive integers"),
    (["train", "--out", "x.pt", "--ema-decay", "1.5", "--max-steps", "1"], "ema_decay must be in (0, 1)"),
])
def test_bad_input_is_one_line_on_stderr(argv, message, capsys):
    code, stdout, stderr = _run(capsys, *argv)
    assert code != 0 and message in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


def test_corrupt_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_text("garbage")
    code, _, stderr = _run(capsys, "sample", "--checkpoint", str(bad), "--n", "1", "--out", str(tmp_path / "o.pt"))
    assert code == 2 and "bad.pt is corrupt" in stderr and len(stderr.strip().splitlines()) == 1


def test_labels_for_an_unconditional_checkpoint(tmp_path, capsys):
    ckpt = tmp_path / "u.pt"
    assert main(["train", "--out", str(ckpt), "--max-steps", "1", "--batch-size", "4", "--no-progress",
                 "--unconditional"]) == 0
    code, _, stderr = _run(capsys, "sample", "--checkpoint", str(ckpt), "--n", "2", "--labels", "1,2",
                           "--out", str(tmp_path / "o.pt"))
    assert code == 2 and "unconditional" in stderr


def test_module_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "helpers", "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for flag in ["--out", "--epochs", "--max-steps", "--max-minutes", "--sitting-minutes", "--dataset", "--data-root",
                 "--conditional", "--unconditional", "--seed", "--resume"]:
        assert flag in result.stdout
    result = subprocess.run([sys.executable, "-m", "helpers", "sample", "--checkpoint", "nope.pt",
                             "--n", "1", "--out", "o.pt"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip() == "error: checkpoint nope.pt does not exist"
