"""The command line: a real train -> sample round trip, and one-line errors for bad input."""
import subprocess
import sys

import pytest
import torch

from helpers.__main__ import main
from helpers.io import load_checkpoint


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "tiny.pt"
    assert main(["train", "--out", str(path), "--max-steps", "3", "--batch-size", "8",
                 "--no-progress", "--device", "cpu"]) == 0
    return path


def test_train_then_sample(checkpoint, tmp_path, capsys):
    out = tmp_path / "samples.pt"
    code, stdout, _ = _run(capsys, "sample", "--checkpoint", str(checkpoint), "--n", "4",
                           "--sampler", "ddpm:5", "--labels", "balanced", "--guidance", "2", "--out", str(out))
    assert code == 0 and "wrote 4 images" in stdout
    data = torch.load(out)
    assert data["images"].dtype == torch.uint8 and data["images"].shape == (4, 1, 28, 28)
    assert data["labels"].tolist() == [0, 1, 2, 3]
    assert out.with_suffix(".png").exists()


def test_ddim_sampler_and_its_flags(checkpoint, tmp_path, capsys):
    out = tmp_path / "ddim.pt"
    code, stdout, _ = _run(capsys, "sample", "--checkpoint", str(checkpoint), "--n", "3", "--sampler",
                           "ddim:4:0.5", "--labels", "7", "--guidance", "3", "--out", str(out))
    assert code == 0 and "(ddim:4:0.5, 4 steps" in stdout
    meta = torch.load(out)["meta"]
    assert (meta["sampler"], meta["steps"], meta["guidance"], meta["dataset"]) == ("ddim:4:0.5", 4, 3.0, "mnist")
    code, stdout, _ = _run(capsys, "sample", "--checkpoint", str(checkpoint), "--n", "1", "--sampler", "ddim",
                           "--out", str(out))
    assert code == 0 and "(ddim, 300 steps" in stdout                       # no step count: every step


@pytest.mark.parametrize("extra,message", [
    (["--sampler", "ddim:25:-1"], "a sampler is written ddpm, ddpm:STEPS, ddim:STEPS, ddim:STEPS:ETA, heun:STEPS"),
    (["--sampler", "ddim:25:2"], "eta must be in [0, 1]"),
    (["--sampler", "ddim:400"], "--sampler ddim:400 asks for more steps than the model's T=300"),
    (["--sampler", "plms"], "a sampler is written"),
    (["--n", "0"], "--n and --batch-size must be positive, got 0 and 500"),
])
def test_bad_sampler_flags(checkpoint, tmp_path, capsys, extra, message):
    code, _, stderr = _run(capsys, "sample", "--checkpoint", str(checkpoint), "--n", "1",
                           "--out", str(tmp_path / "o.pt"), *extra)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1


def test_conditional_is_the_default_and_unconditional_is_num_classes_none(tmp_path):
    base = ["train", "--max-steps", "1", "--batch-size", "4", "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "c.pt")]) == 0
    assert main(base + ["--out", str(tmp_path / "u.pt"), "--num-classes", "none"]) == 0
    assert load_checkpoint(tmp_path / "c.pt")["config"].num_classes == 10
    assert load_checkpoint(tmp_path / "u.pt")["config"].num_classes is None


def test_every_config_field_is_a_flag_that_reaches_the_config(tmp_path):
    out = tmp_path / "a.pt"
    assert main(["train", "--max-steps", "1", "--batch-size", "4", "--no-progress", "--out", str(out),
                 "--base-channels", "8", "--channel-mults", "1,2", "--ema-decay", "0.99", "--no-skip-connections",
                 "--schedule", "cosine", "--grad-clip", "none", "--T", "50", "--seed", "3"]) == 0
    config = load_checkpoint(out)["config"]
    assert (config.base_channels, config.channel_mults, config.ema_decay, config.skip_connections) == (8, (1, 2), 0.99, False)
    assert (config.schedule, config.grad_clip, config.T, config.seed) == ("cosine", None, 50, 3)
    assert (config.epochs, config.max_steps, config.max_minutes) == (None, 1, None)   # a budget flag replaces 5 epochs


def test_resume_continues_the_step_count(checkpoint, capsys):
    code, stdout, _ = _run(capsys, "train", "--out", str(checkpoint), "--max-steps", "5",
                           "--batch-size", "8", "--resume", "--no-progress")
    assert code == 0 and "trained 5 steps" in stdout


@pytest.mark.parametrize("argv,message", [
    (["sample", "--checkpoint", "missing.pt", "--n", "2", "--out", "x.pt"], "missing.pt does not exist"),
    (["sample", "--n", "2", "--out", "x.pt"], "the following arguments are required: --checkpoint"),
    (["train", "--out", "x.pt", "--batch-size", "0"], "batch_size must be positive, got 0"),
    (["train", "--out", "x.pt", "--sitting-minutes", "-5"], "--sitting-minutes must be positive"),
    (["train", "--out", "x.pt", "--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["fly"], "invalid choice: 'fly'"),
    (["train", "--out", "x.pt", "--channel-mults", "1,x"], "invalid comma-separated integers or none value: '1,x'"),
    (["train", "--out", "x.pt", "--lr", "fast"], "invalid float value: 'fast'"),
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
                 "--num-classes", "none"]) == 0
    code, _, stderr = _run(capsys, "sample", "--checkpoint", str(ckpt), "--n", "2", "--labels", "1,2",
                           "--out", str(tmp_path / "o.pt"))
    assert code == 2 and "unconditional" in stderr


@pytest.mark.slow
def test_module_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "helpers", "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for flag in ["--out", "--epochs", "--max-steps", "--max-minutes", "--sitting-minutes", "--dataset", "--data-root",
                 "--num-classes", "--seed", "--resume", "--min-snr-gamma", "--no-time-embedding", "--p-uncond"]:
        assert flag in result.stdout
    assert "classes the model is conditioned on; none: unconditional (default: 10)" in " ".join(result.stdout.split())
    result = subprocess.run([sys.executable, "-m", "helpers", "sample", "--checkpoint", "nope.pt",
                             "--n", "1", "--out", "o.pt"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip() == "error: checkpoint nope.pt does not exist"


def test_a_checkpoint_refuses_another_data_set(checkpoint, tmp_path, capsys):
    """An MNIST checkpoint asked for Fashion-MNIST or CIFAR-10 images, or resumed on them: one line each."""
    for dataset, shape in (("fashion", "1 x 28 x 28"), ("cifar10", "3 x 32 x 32")):
        code, _, err = _run(capsys, "sample", "--checkpoint", str(checkpoint), "--n", "2", "--dataset", dataset,
                            "--out", str(tmp_path / "s.pt"))
        assert code == 2 and f"trained on mnist (1 x 28 x 28 images), so it cannot make {dataset} images ({shape})" in err
        assert len(err.strip().splitlines()) == 1


@pytest.mark.filterwarnings("ignore::helpers.data.DataFallbackWarning")
def test_resuming_on_another_data_set_is_one_line(checkpoint, tmp_path, capsys):
    from helpers.data import load_images

    try:
        load_images("fashion", download=False)
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST is not on this machine")
    copy = tmp_path / "copy.pt"
    copy.write_bytes(checkpoint.read_bytes())
    code, _, err = _run(capsys, "train", "--dataset", "fashion", "--out", str(copy), "--resume", "--max-steps", "5",
                        "--no-progress", "--device", "cpu")
    assert code == 2 and "the data are fashion images but the config is for mnist" in err


def test_a_tuple_flag_can_be_emptied():
    from helpers.cli import build_parser, config_from_args

    parser = build_parser()
    preset = config_from_args(parser.parse_args(["train", "--out", "x.pt", "--dataset", "cifar10"]))
    off = config_from_args(parser.parse_args(["train", "--out", "x.pt", "--dataset", "cifar10", "--attention", "none"]))
    assert preset.attention == (8,) and off.attention == ()
