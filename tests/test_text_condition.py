"""Text conditioning: caption embeddings in the U-Net, caption dropout, guidance, exact resume, prompts, refusals."""
import pytest
import torch

from helpers import captions
from helpers.__main__ import main
from helpers.device import make_generator
from helpers.io import CheckpointError, load_checkpoint, load_model, save_checkpoint
from helpers.sampling import eps_model, sample
from helpers.text_condition import TrainingCaptions, check_prompts, load_text_encoder
from helpers.train import drop_labels
from helpers.unet import TEXT_DIM, null_condition
from tests.tiny import interrupt_at, tiny_config, tiny_model, train_cpu as _train

TEXT = dict(condition="text", num_classes=10)


def _unit_rows(n: int, seed: int = 0) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, TEXT_DIM, generator=torch.Generator().manual_seed(seed)), dim=1)


@pytest.fixture(scope="module")
def text_checkpoint(tmp_path_factory):
    """A tiny text model trained for 2 steps on 32 real digits."""
    from helpers.data import fallback_digits
    digits = fallback_digits()
    data = type(digits)(digits.images[::140][:32], digits.labels[::140][:32], "32 digits", digits.class_names, "mnist")
    path = tmp_path_factory.mktemp("text") / "text.pt"
    _train(tiny_config(max_steps=2, **TEXT), data, out=path)
    return path


def test_a_text_model_takes_caption_embeddings_not_labels():
    model = tiny_model(tiny_config(**TEXT))
    x, t = torch.randn(3, 1, 28, 28), torch.tensor([0, 4, 9])
    assert model(x, t, _unit_rows(3)).shape == (3, 1, 28, 28)
    assert model.class_emb is None and model.text_proj.in_features == TEXT_DIM and model.conditional
    with pytest.raises(ValueError, match="conditioned on text: give caption embeddings"):
        model(x, t, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"caption embeddings must have shape \(3, 64\)"):
        model(x, t, _unit_rows(2))
    with pytest.raises(ValueError, match="takes class labels"):
        tiny_model(tiny_config(num_classes=10))(x, t, _unit_rows(3))


def test_a_zero_row_is_the_learned_null_caption():
    model = tiny_model(tiny_config(**TEXT))
    x, t, e = torch.randn(2, 1, 28, 28), torch.tensor([3, 7]), _unit_rows(2)
    null = null_condition(model, e)
    assert torch.equal(null, torch.zeros(2, TEXT_DIM))
    torch.testing.assert_close(model(x, t, null), model(x, t))
    mixed = torch.stack([e[0], torch.zeros(TEXT_DIM)])
    torch.testing.assert_close(model(x, t, mixed)[1], model(x, t)[1])
    torch.testing.assert_close(model(x, t, mixed)[0], model(x, t, e)[0])
    assert not torch.allclose(model(x, t, e), model(x, t))
    assert model.null_text.requires_grad          # learned, with the rest of the U-Net


def test_caption_dropout_uses_the_null_embedding_at_the_label_rate():
    e = _unit_rows(20000)
    dropped = drop_labels(e, 0.1, 0, torch.Generator().manual_seed(0))
    gone = (dropped == 0).all(dim=1)
    assert gone.float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert torch.equal(dropped[~gone], e[~gone])
    labels = drop_labels(torch.zeros(20000, dtype=torch.long), 0.1, 10, torch.Generator().manual_seed(0))
    assert torch.equal(labels == 10, gone)         # the same draw as label dropout


def test_guidance_on_captions_follows_the_class_code_path():
    model = tiny_model(tiny_config(**TEXT))
    x, t, e = torch.randn(2, 1, 28, 28), torch.tensor([3, 7]), _unit_rows(2)
    cond_eps, uncond_eps = model(x, t, e), model(x, t)
    torch.testing.assert_close(eps_model(model, e, 1.0)(x, t), cond_eps)
    torch.testing.assert_close(eps_model(model, e, 0.0)(x, t), uncond_eps)
    torch.testing.assert_close(eps_model(model, e, 3.0)(x, t), uncond_eps + 3 * (cond_eps - uncond_eps))


def test_training_captions_use_train_templates_and_never_say_a_held_out_pair():
    encoder = load_text_encoder("models/clip_small.pt")
    codes = torch.tensor([[1, 1, 1]] * 200)                     # thick, slanted left, large
    labels = torch.tensor([4, 7] * 100)
    source = TrainingCaptions(encoder, codes)
    texts = source.texts(labels, torch.arange(200), torch.Generator().manual_seed(0))
    assert texts == source.texts(labels, torch.arange(200), torch.Generator().manual_seed(0))
    fours, sevens = " ".join(texts[0::2]), " ".join(texts[1::2])
    assert not any(w in fours.split() for w in captions.BEFORE["thick"]) and "written boldly" not in fours
    assert "left" not in sevens and "left" in fours and "thick" in sevens
    for text in texts:                                          # the held-out templates never appear
        first = text.split(",")[0].split()
        assert first[0] == "a" or first[:2] in (["the", "digit"], ["the", "number"]) or len(first) == 1, text
        assert not (text.startswith("a handwritten") and "," in text), text
    assert source(labels[:4], torch.arange(4), torch.Generator().manual_seed(0)).shape == (4, TEXT_DIM)


def test_an_interrupted_text_run_resumes_exactly(tiny_data, tmp_path):
    config = tiny_config(max_steps=6, **TEXT)
    straight = _train(config, tiny_data)
    ckpt = tmp_path / "run.pt"

    interrupt_at(config, tiny_data, ckpt, step=3)
    saved = load_checkpoint(ckpt)
    assert saved["step"] == 3 and len(saved["clip_sha256"]) == 64
    assert not any(k.startswith("clip") for k in saved["model"])          # the CLIP is not trained or saved
    resumed = _train(config, tiny_data, out=ckpt, resume=True)
    assert resumed.step == 6 and resumed.losses == pytest.approx(straight.losses, rel=1e-6)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_model_refuses_another_clip_file(text_checkpoint, tmp_path):
    state = load_checkpoint(text_checkpoint)
    other = tmp_path / "other.pt"
    save_checkpoint({**state, "config": state["config"].to_dict(), "clip_sha256": "0" * 64}, other)
    with pytest.raises(CheckpointError, match="is not the CLIP this model was trained with"):
        load_model(other)


def test_prompts_sample_deterministically(text_checkpoint):
    model, diffusion, _ = load_model(text_checkpoint)
    a = sample(model, diffusion, 4, prompts=["a thick slanted four", "7"], guidance=2.0, generator=make_generator(0))
    b = sample(model, diffusion, 4, prompts=["a thick slanted four", "7"], guidance=2.0, generator=make_generator(0))
    assert a.shape == (4, 1, 28, 28) and torch.equal(a, b)


@pytest.mark.parametrize("prompt, message", [
    ("", "empty prompt"), ("a thick sneaker", "unknown word 'sneaker'"), ("a thick digit", "names no digit"),
    ("a three and a 4", "names 2 different digits")])
def test_bad_prompts_get_one_clear_line(text_checkpoint, prompt, message):
    with pytest.raises(ValueError, match=message):
        check_prompts([prompt])
    model, diffusion, _ = load_model(text_checkpoint)
    with pytest.raises(ValueError, match=message):
        sample(model, diffusion, 2, prompts=[prompt])


def test_prompts_on_a_class_model_are_refused():
    config = tiny_config(num_classes=10)
    with pytest.raises(ValueError, match="prompts need a text-conditioned model"):
        sample(tiny_model(config), None, 2, prompts=["a seven"])


def test_the_command_line_refuses_the_wrong_condition(text_checkpoint, tiny_data, tmp_path, capsys):
    class_ckpt = tmp_path / "class.pt"
    _train(tiny_config(max_steps=1, num_classes=10), tiny_data, out=class_ckpt)
    common = ["--n", "2", "--sampler", "ddim:2", "--out", str(tmp_path / "s.pt")]
    cases = [([str(class_ckpt), "--prompt", "a seven"], "--prompt needs a text-conditioned checkpoint"),
             ([str(text_checkpoint), "--labels", "7"], "--labels needs a class-conditioned checkpoint"),
             ([str(text_checkpoint), "--prompt", "a seven", "--prompt", "zebra 7"], "unknown word 'zebra'")]
    for argv, message in cases:
        assert main(["sample", "--checkpoint", *argv, *common]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert main(["sample", "--checkpoint", str(text_checkpoint), "--prompt", "a thin 1", *common]) == 0
    assert "wrote 2 images" in capsys.readouterr().out


def test_text_conditioning_is_refused_off_mnist():
    with pytest.raises(ValueError, match="condition 'text' needs MNIST"):
        tiny_config(condition="text", dataset="fashion")
