"""Captions from measured attributes, and the word-level tokenizer that reads them."""
import pytest
import torch

from helpers import captions as C
from helpers.morphometry import DigitAttributes, load_attributes
from helpers.tokenizer import CONTEXT, VOCABULARY, decode, encode, encode_batch, split_words


@pytest.fixture(scope="module")
def train_attrs() -> DigitAttributes:
    return load_attributes().split(train=True)


@pytest.fixture(scope="module")
def codes(train_attrs):
    return C.assign_bins(train_attrs, C.fit_bins(train_attrs))


def test_bins_split_the_training_digits_at_their_quantiles(train_attrs, codes):
    share = lambda col, k: float((codes[:, col] == k).float().mean())
    assert share(0, 0) == pytest.approx(1 / 3, abs=0.01) and share(0, 1) == pytest.approx(1 / 3, abs=0.01)
    assert share(1, 1) == pytest.approx(0.2, abs=0.01) and share(1, 2) == pytest.approx(0.2, abs=0.01)
    thick = train_attrs.column("thickness")
    assert thick[codes[:, 0] == 1].min() > thick[codes[:, 0] == 0].max()
    slant = train_attrs.column("slant")
    assert slant[codes[:, 1] == 2].min() > slant[codes[:, 1] == 0].max() > slant[codes[:, 1] == 1].max()


def test_captions_are_reproducible_with_a_generator(train_attrs, codes):
    labels = train_attrs.labels[:200]
    first = C.captions(labels, codes[:200], torch.Generator().manual_seed(3))
    assert first == C.captions(labels, codes[:200], torch.Generator().manual_seed(3))
    assert first != C.captions(labels, codes[:200], torch.Generator().manual_seed(4))
    for text, y in zip(first, labels.tolist()):
        words = split_words(text)
        assert C.DIGIT_WORDS[y] in words or str(y) in words, text


def test_a_caption_says_the_measured_attributes_and_never_a_held_out_pair():
    g = torch.Generator().manual_seed(0)
    thick_left = torch.tensor([1, 1, -1])                     # thick, slanted left, no size word
    said = [C.caption(3, thick_left, g, p_attribute=1.0) for _ in range(50)]
    assert all(any(w in t for w in C.BEFORE["thick"] + C.AFTER["thick"]) for t in said)
    assert not any(w in t for t in said for w in ("thin", "right", "upright"))
    fours = [C.caption(4, thick_left, g, p_attribute=1.0) for _ in range(200)]
    sevens = [C.caption(7, thick_left, g, p_attribute=1.0) for _ in range(200)]
    assert not any(w in t for t in fours for w in C.BEFORE["thick"] + C.AFTER["thick"])
    assert not any("left" in t for t in sevens)
    assert any("left" in t for t in fours) and any(w in t for t in sevens for w in C.BEFORE["thick"])


def test_examples_read_as_english():
    g = torch.Generator().manual_seed(0)
    assert C.fill("a {before} {digit}", "seven", ["thick", "left"], g) in {
        f"a {a}, {b} seven" for a in C.BEFORE["thick"] for b in C.BEFORE["left"]}
    assert C.fill("{digit}, {after}", "7", [], g) == "7"
    assert C.fill("a {before} handwritten {digit}", "0", [], g) == "a handwritten 0"
    assert C.attribute_prompt(4, "thick") == "a thick four"
    assert C.class_prompts()[9] == "the digit nine"
    with pytest.raises(ValueError, match="unknown bin 'bold'"):
        C.attribute_prompt(4, "bold")
    with pytest.raises(ValueError, match="codes must have shape"):
        C.captions(torch.tensor([1, 2]), torch.zeros(2, 2, dtype=torch.long), g)


def test_every_caption_encodes_and_decodes(train_attrs, codes):
    g = torch.Generator().manual_seed(1)
    for templates in (C.TRAIN_TEMPLATES, C.HELD_OUT_TEMPLATES):
        texts = C.captions(train_attrs.labels[:500], codes[:500], g, templates=templates, p_attribute=1.0)
        tokens = encode_batch(texts)
        assert tokens.shape[0] == 500 and tokens.shape[1] <= CONTEXT and (tokens[:, 0] > 0).all()
        assert [decode(t) for t in tokens[:5]] == [" ".join(t.replace(",", "").replace("-", " ").split())
                                                   for t in texts[:5]]


def test_tokenizer_errors_are_one_clear_line():
    assert encode("A thick, left-leaning 7").tolist() == [VOCABULARY.index(w) for w in
                                                          ("a", "thick", "left", "leaning", "7")]
    with pytest.raises(ValueError, match=r"empty prompt '  ,  '"):
        encode("  ,  ")
    with pytest.raises(ValueError, match=r"unknown word 'sevn' in 'a thick sevn'; nearest known words: seven"):
        encode("a thick sevn")
    with pytest.raises(ValueError, match="longer than the 24"):
        encode("seven " * 25)
