"""experiments.applications and experiments.augmentation: tiny runs record every part they promise."""
import json
from types import SimpleNamespace

import pytest
import torch

from experiments import applications, augmentation
from helpers.data import ImageSet
from helpers.io import load_model
from helpers.restoration import MASKS


@pytest.fixture
def quick(judge, monkeypatch):
    monkeypatch.setattr(applications, "load_judge", lambda: judge)
    monkeypatch.setattr(applications, "SAMPLER", "ddpm:4")
    monkeypatch.setattr(augmentation, "SAMPLER", "ddim:3")
    model, diffusion, _ = load_model(applications.REFERENCE)
    return judge, model, diffusion


@pytest.mark.slow        # five masks by five methods on the reference model: minutes on a CPU
def test_inpainting_scores_every_mask_and_method_with_spread_for_the_model(quick):
    judge, model, diffusion = quick
    r = applications.run_inpainting(3, 2, 2, judge, model, diffusion)
    assert list(r["runs"]) == list(MASKS)
    for kind, row in r["runs"].items():
        assert list(row) == ["mean_fill", "nearest_training_digit", "repaint", "repaint_jumps", "ddnm"]
        for name, m in row.items():
            assert 0 <= m["accuracy"] <= 1 and m["rmse_known"] == 0 and m["rmse_missing"] > 0
            assert ("spread" in m) == (name not in ("mean_fill", "nearest_training_digit"))
        assert 1 <= row["ddnm"]["spread"]["distinct_digits"] <= 2


def test_sdedit_at_t0_zero_is_the_rough_input_and_moves_away_with_t0(quick):
    judge, model, diffusion = quick
    r = applications.run_sdedit(3, [0, 0.5, 1.0], judge, model, diffusion)
    for kind in ("blurred", "pixelated"):
        first, mid, last = r["runs"][kind]
        assert first["t0"] == 0 and first["rmse_to_input"] == 0
        assert mid["rmse_to_input"] > 0 and last["rmse_to_input"] > 0
    with pytest.raises(ValueError, match="unknown corruption"):
        applications.corrupt(torch.zeros(1, 1, 28, 28), "smudged")


def test_denoising_main_writes_a_record_with_its_command_and_hardware(quick, tmp_path):
    out = tmp_path / "applications.json"
    applications.main(["denoising", "--n", "3", "--out", str(out)])
    r = json.loads(out.read_text())["denoising"]
    assert r["command"].startswith("python -m experiments.applications denoising") and "hardware" in r
    assert set(r["runs"]) == {"0.2", "0.5", "1.0"}
    for row in r["runs"].values():
        assert set(row) == {"noisy", "gaussian_blur", "non_local_means", "model_one_step", "model_reverse_chain"}
        assert row["model_one_step"]["psnr_db"] > row["noisy"]["psnr_db"]


def test_memorisation_flags_copies_of_training_digits(quick, tmp_path, monkeypatch):
    judge, _, _ = quick
    train = judge[1].train
    copies = ImageSet(train.images[:30].clone(), train.labels[:30].clone(), "copies", train.class_names)
    monkeypatch.setattr(augmentation, "load_generated", lambda *a, **k: copies)
    r = applications.run_memorisation(30, judge, pairs=4, figures=tmp_path)
    assert r["pixels"]["share_nearer_than_any_test"] == 1.0 and r["pixels"]["generated"]["median"] < 1e-3
    assert r["closest_pairs_distance"] == [0.0] * 4 and (tmp_path / "closest_pairs.png").exists()


def test_generation_resumes_chunk_by_chunk_and_training_covers_every_set(quick, tmp_path):
    judge, _, _ = quick
    folder = tmp_path / "chunks"
    augmentation.generate(4, 2, folder, judge=judge)
    first = (folder / "chunk_00.pt").stat().st_mtime_ns
    (folder / "chunk_01.pt").unlink()
    with pytest.raises(SystemExit, match="1 chunks of generated digits are missing"):
        augmentation.load_generated(4, 2, folder)
    timing = augmentation.generate(4, 2, folder, judge=judge)
    assert (folder / "chunk_00.pt").stat().st_mtime_ns == first and timing["seconds"] >= 0
    assert torch.load(folder / "chunk_01.pt")["seconds"] > 0            # each chunk keeps its own sampling time
    generated = augmentation.load_generated(4, 2, folder)
    assert generated.images.shape == (4, 1, 28, 28) and generated.images.abs().max() <= 1
    real = judge[1]
    mixed = torch.randperm(len(real.train), generator=torch.Generator().manual_seed(0))[:200]   # every class
    small = SimpleNamespace(train=ImageSet(real.train.images[mixed], real.train.labels[mixed], "", real.train.class_names),
                            test=ImageSet(real.test.images[:50], real.test.labels[:50], "", real.test.class_names))
    runs = augmentation.train_all(generated, (judge[0], small), steps=4, per_class=(1,))
    assert set(runs) == {"real", "generated", "real_1_per_class", "real_1_per_class_plus_generated"}
    assert runs["real_1_per_class_plus_generated"]["train_images"] == 14 and runs["real"]["steps"] == 4
    judged_only = augmentation.train_all(generated, (judge[0], small), steps=4, per_class=(), train_real=False)
    assert set(judged_only) == {"real", "generated"} and judged_only["real"]["from"] == "models/digit_classifier.json"
