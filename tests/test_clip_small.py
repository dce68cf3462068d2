"""The small CLIP: its loss by hand, its shapes, and the committed model reading real digits."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

from helpers.clip_small import ClipConfig, SmallClip, contrastive_loss, count_parameters
from helpers.clip_train import _start as new_or_resumed, load_small_clip
from helpers.io import CheckpointError
from helpers.evaluation import clip_small as E
from helpers.io import ROOT
from helpers.tokenizer import encode_batch

MODEL = ROOT / "models" / "clip_small.pt"


def test_contrastive_loss_equals_a_hand_computation_on_3x3():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.0, 0.0], [0.0, 3.0, 1.0]])
    rows = [-math.log(math.exp(logits[i, i]) / sum(math.exp(v) for v in logits[i])) for i in range(3)]
    cols = [-math.log(math.exp(logits[i, i]) / sum(math.exp(v) for v in logits[:, i])) for i in range(3)]
    assert contrastive_loss(logits).item() == pytest.approx((sum(rows) / 3 + sum(cols) / 3) / 2, rel=1e-6)


def test_contrastive_loss_is_symmetric_and_rewards_the_diagonal():
    logits = torch.randn(5, 5, generator=torch.Generator().manual_seed(0))
    assert contrastive_loss(logits).item() == pytest.approx(contrastive_loss(logits.T).item(), rel=1e-6)
    assert contrastive_loss(10 * torch.eye(4)).item() < 1e-3 < contrastive_loss(torch.zeros(4, 4)).item()
    assert contrastive_loss(torch.zeros(4, 4)).item() == pytest.approx(math.log(4))
    with pytest.raises(ValueError, match="must be square"):
        contrastive_loss(torch.zeros(3, 4))


def test_model_shapes_unit_embeddings_and_clamped_temperature():
    model = SmallClip(ClipConfig())
    assert 100_000 < count_parameters(model) < 500_000
    images, tokens = torch.rand(6, 1, 28, 28) * 2 - 1, encode_batch(["a thick seven"] * 3 + ["7"] * 3)
    assert model(images, tokens).shape == (6, 6)
    assert torch.allclose(model.encode_text(tokens).norm(dim=1), torch.ones(6))
    assert torch.allclose(model.encode_text(tokens[:1]), model.encode_text(encode_batch(["a thick seven"], 10)),
                          atol=1e-5)                                 # padding changes nothing
    with torch.no_grad():
        model.log_scale.fill_(10.0)
    assert model.logit_scale().item() == pytest.approx(100.0)


def test_auc_by_hand():
    assert E.auc(torch.tensor([0.9, 0.8, 0.3, 0.1]), torch.tensor([True, True, False, False])) == 1.0
    assert E.auc(torch.tensor([0.1, 0.8, 0.3, 0.9]), torch.tensor([True, True, False, False])) == 0.25
    assert E.auc(torch.tensor([0.5, 0.5]), torch.tensor([True, False])) == 0.5
    with pytest.raises(ValueError, match="positives and negatives"):
        E.auc(torch.tensor([0.5]), torch.tensor([True]))


def test_the_committed_model_reads_real_digits(mnist):
    model = load_small_clip(MODEL)
    test = mnist[1]
    pick = torch.arange(0, len(test), len(test) // 200)[:200]
    images, labels = test.images[pick], test.labels[pick]
    scores = E.clip_scores(model, images, labels)
    assert scores["zero_shot_accuracy"] >= 0.95 and scores["clip_score"] > 0.8 and scores["clip_margin"] > 0
    noise = E.clip_scores(model, torch.rand(200, 1, 28, 28) * 2 - 1, labels)
    assert noise["clip_score"] < 0.5 * scores["clip_score"]
    with pytest.raises(ValueError, match=r"grey 28 x 28"):
        E.embed_images(model, torch.zeros(2, 3, 32, 32))


def _tiny_run(tmp_path, steps_first: int | None):
    from helpers.clip_train import ClipTrainConfig, train_clip
    from helpers.data import fallback_digits
    from helpers.morphometry import ATTRIBUTES, DigitAttributes, measure
    data = fallback_digits(train=True)
    data.images, data.labels = data.images[::70][:64], data.labels[::70][:64]
    m = measure(data.images)
    attrs = DigitAttributes(torch.stack([m[a] for a in ATTRIBUTES], 1), data.labels, len(data.labels))
    config = ClipTrainConfig(steps=6, batch_size=16, warmup_steps=2,
                             model=ClipConfig(embed_dim=16, channels=(8, 8, 8), width=16, layers=1, heads=2))
    out = tmp_path / f"run_{steps_first}.pt"
    if steps_first:
        train_clip(config, data, attrs, out, save_every=3, pause_at=steps_first)
    return train_clip(config, data, attrs, out, tmp_path / "log.jsonl", resume=steps_first is not None, save_every=2)


def test_training_resumed_from_its_checkpoint_continues_exactly(tmp_path):
    straight, resumed = _tiny_run(tmp_path, None), _tiny_run(tmp_path, 4)
    assert straight.step == resumed.step == 6
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    assert load_small_clip(tmp_path / "run_4.pt").config.embed_dim == 16
    with pytest.raises(CheckpointError, match="already exists: resume it"):
        new_or_resumed(straight.config, tmp_path / "run_4.pt", resume=False)
    assert [r["step"] for r in map(json.loads, (tmp_path / "log.jsonl").read_text().splitlines())] == [2, 4, 6, 6]
