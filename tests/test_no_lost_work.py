"""Nothing a user runs is lost: no silent overwrite, strict resume, signals saved at a step boundary,
the random state restored from the CPU, fsynced writes, results files safe under parallel writers."""
import json
import multiprocessing
import os
import signal
import threading

import pytest
import torch

import helpers.io
from helpers.cli import main as cli_main
from helpers.io import CheckpointError, append_jsonl, atomic_write, load_checkpoint, update_json
from helpers.train import CheckpointExists, TrainingStopped, build_state, restore_state, train
from tests.tiny import tiny_config


def _train(config, data, **kw):
    return train(config, data, device=torch.device("cpu"), progress=False, **kw)


def test_a_second_run_does_not_replace_the_first_unless_asked(tiny_data, tmp_path):
    ckpt = tmp_path / "run.pt"
    first = _train(tiny_config(max_steps=2), tiny_data, out=ckpt)
    with pytest.raises(CheckpointExists, match="already exists: resume it .* start again over it"):
        _train(tiny_config(max_steps=2, seed=1), tiny_data, out=ckpt)
    assert load_checkpoint(ckpt)["step"] == first.step == 2               # untouched
    again = _train(tiny_config(max_steps=3, seed=1), tiny_data, out=ckpt, overwrite=True)
    assert again.step == 3 and load_checkpoint(ckpt)["config"].seed == 1


def test_resume_of_a_missing_file_is_an_error_unless_a_fresh_start_is_asked_for(tiny_data, tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume: .*typo.pt does not exist"):
        _train(tiny_config(max_steps=2), tiny_data, out=tmp_path / "typo.pt", resume=True)
    fresh = _train(tiny_config(max_steps=2), tiny_data, out=tmp_path / "new.pt", resume="if_exists")
    assert fresh.step == 2
    more = _train(tiny_config(max_steps=4), tiny_data, out=tmp_path / "new.pt", resume="if_exists")
    assert more.step == 4 and more.losses[:2] == fresh.losses


def test_resuming_says_where_and_names_the_settings_it_does_not_use(tiny_data, tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    _train(tiny_config(max_steps=2), tiny_data, out=ckpt)
    state = _train(tiny_config(max_steps=3, lr=1e-4, seed=7), tiny_data, out=ckpt, resume=True)
    said = capsys.readouterr().out
    assert f"resuming at step 2 from {ckpt} (budget: 3 steps)" in said
    assert "lr 0.0001 (kept: 0.002)" in said and "seed 7 (kept: 0)" in said and "max_steps" not in said
    assert state.config.lr == 2e-3 and state.step == 3


def test_the_cli_resumes_with_the_checkpoints_settings_and_names_only_flags_that_differ(tiny_data, tmp_path, capsys,
                                                                                      monkeypatch):
    ckpt = tmp_path / "run.pt"
    _train(tiny_config(max_steps=2, num_classes=10), tiny_data, out=ckpt)
    monkeypatch.setattr("helpers.cli.load_images", lambda *a, **k: tiny_data)
    code = cli_main(["train", "--out", str(ckpt), "--max-steps", "3", "--no-progress", "--device", "cpu"])
    assert code == 2 and "already exists" in capsys.readouterr().err                      # no silent restart
    code = cli_main(["train", "--out", str(ckpt), "--resume", "--max-steps", "3", "--lr", "0.01",
                     "--no-progress", "--device", "cpu"])
    said = capsys.readouterr()
    assert code == 0 and "resuming at step 2" in said.out, said.err
    assert "lr 0.01 (kept: 0.002)" in said.out and "base_channels" not in said.out    # defaults not given: no noise
    assert load_checkpoint(ckpt)["step"] == 3
    code = cli_main(["train", "--out", str(tmp_path / "missing.pt"), "--resume", "--no-progress"])
    assert code == 2 and "nothing to resume" in capsys.readouterr().err


def _signal_after(step: int, signum: int):
    """A callback that sends this process ``signum`` when the run reaches ``step``."""
    def callback(state):
        if state.step == step:
            os.kill(os.getpid(), signum)
    return callback


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_at_a_step_boundary_saves_and_resume_is_exact(tiny_data, tmp_path, signum):
    config, ckpt = tiny_config(max_steps=6, num_classes=10, ema_decay=0.9), tmp_path / "run.pt"
    straight = _train(config, tiny_data)
    with pytest.raises(TrainingStopped, match=f"{signal.Signals(signum).name} received: stopped after step 3"):
        _train(config, tiny_data, out=ckpt, callback=_signal_after(3, signum), callback_every=1, save_every_s=1e9)
    assert load_checkpoint(ckpt)["step"] == 3                   # saved although no periodic save was due
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler      # handlers put back
    resumed = _train(config, tiny_data, out=ckpt, resume=True)
    assert resumed.step == 6 and resumed.losses == pytest.approx(straight.losses, rel=1e-6)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)


def test_the_cli_reports_a_stop_by_sigterm_with_its_exit_status(tiny_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("helpers.cli.load_images", lambda *a, **k: tiny_data)
    real_train = helpers.cli.train
    monkeypatch.setattr("helpers.cli.train", lambda *a, **k: real_train(
        *a, **k, callback=_signal_after(2, signal.SIGTERM), callback_every=1))
    code = cli_main(["train", "--out", str(tmp_path / "r.pt"), "--max-steps", "5", "--no-progress", "--device", "cpu",
                     "--num-classes", "none", "--base-channels", "8", "--channel-mults", "1,2", "--T", "10",
                     "--schedule", "linear"])
    assert code == 128 + signal.SIGTERM and "stopped: SIGTERM received: stopped after step 2" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "r.pt")["step"] == 2


def test_an_interrupt_within_a_step_keeps_the_last_consistent_save(tiny_data, tmp_path, monkeypatch, capsys):
    """A second Ctrl-C lands inside a step: the weights may have moved while the count has not, so the
    checkpoint on disk (step 2) is kept rather than overwritten with a half-done step 3."""
    import helpers.train as train_module
    ckpt, calls = tmp_path / "run.pt", []
    real_step = train_module.train_step

    def step_then_interrupt(state, *args):
        loss = real_step(state, *args)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt          # after optimizer.step(), before the count moves
        return loss
    monkeypatch.setattr(train_module, "train_step", step_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_config(max_steps=6), tiny_data, out=ckpt, save_every_s=0.0)
    assert load_checkpoint(ckpt)["step"] == 2 and "keeps its last save" in capsys.readouterr().out


def test_signals_are_left_alone_outside_the_main_thread(tiny_data):
    result = {}
    worker = threading.Thread(target=lambda: result.update(state=_train(tiny_config(max_steps=2), tiny_data)))
    worker.start()
    worker.join()
    assert result["state"].step == 2


class _OnGPU(torch.Tensor):
    """A CPU tensor that says it is on a GPU, as a checkpoint's random state does after torch.load with
    map_location='cuda'; ``.cpu()`` gives the plain tensor back."""

    @property
    def device(self):
        return torch.device("cuda", 0)

    def cpu(self):
        return torch.Tensor(self.as_subclass(torch.Tensor))


class _CudaGenerator:
    """Stands in for a CUDA generator: records what set_state receives, and accepts only what torch's does."""
    device = torch.device("cuda", 0)

    def set_state(self, state):
        assert type(state) is torch.Tensor and state.device.type == "cpu" and state.dtype == torch.uint8, \
            "Generator.set_state takes a CPU ByteTensor"
        self.state = state


def test_resume_restores_the_random_state_from_a_cpu_tensor_whatever_the_device(tiny_data, tmp_path):
    ckpt = tmp_path / "run.pt"
    _train(tiny_config(max_steps=2), tiny_data, out=ckpt)
    saved = load_checkpoint(ckpt)
    saved["rng"] = saved["rng"].as_subclass(_OnGPU)
    state = build_state(tiny_config(max_steps=2), torch.device("cpu"))
    state.generator = _CudaGenerator()
    restore_state(state, saved)
    assert torch.equal(state.generator.state, load_checkpoint(ckpt)["rng"])


def test_atomic_write_flushes_the_file_and_its_folder_before_and_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd))
    atomic_write(tmp_path / "a.txt", lambda tmp: tmp.write_text("hello"))
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert synced[0].endswith(".a.txt.%d.tmp" % os.getpid()) and synced[1] == str(tmp_path)


def _append_many(path: str, worker: int, n: int) -> None:
    for i in range(n):
        append_jsonl({"worker": worker, "i": i}, path)
        update_json(path + ".json", f"{worker}-{i}", i)


@pytest.mark.slow
def test_parallel_processes_appending_to_one_results_file_lose_no_line(tmp_path):
    path, workers, n = str(tmp_path / "runs.jsonl"), 4, 40
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(path, w, n)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    lines = [json.loads(line) for line in open(path)]
    assert sorted((r["worker"], r["i"]) for r in lines) == [(w, i) for w in range(workers) for i in range(n)]
    assert len(json.loads(open(path + ".json").read())) == workers * n
