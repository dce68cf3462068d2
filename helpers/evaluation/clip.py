"""CLIP's opinion of generated digits: image-text agreement and zero-shot digit reading.

For each image, CLIP embeds the image and the ten prompts "a handwritten digit 0"
... "a handwritten digit 9"; the cosine similarity between the image and a prompt
says how well they agree.

- **CLIP score** (as in torchmetrics' ``CLIPScore``): 100 * max(cos(image, prompt of
  its label), 0), averaged over the images. About 20-35 for real photos with good
  captions; only comparisons between sets of images mean anything.
- **zero-shot accuracy**: share of images whose most similar prompt is their label.

Measured on real MNIST digits too, these numbers show how well CLIP itself reads
digits, to set beside the digit classifier's 99 %+.

Needs ``open_clip`` (``pip install open_clip_torch``) and its pretrained weights
(downloaded once from the Hugging Face hub, about 600 MB for ViT-B-32). Without
them :func:`load_clip` raises :class:`ClipUnavailable` with a one-line reason.
:func:`tiny_clip` builds a small randomly initialised CLIP offline: its numbers
mean nothing, but the code path is the same, which is what the tests use.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch
import torch.nn.functional as F

PROMPTS = {"mnist": "a handwritten digit {name}", "fashion": "a photo of a {name}"}   # per data set
PROMPT = PROMPTS["mnist"]
DIGITS = tuple(str(k) for k in range(10))
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)     # open_clip.constants.OPENAI_DATASET_MEAN
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
HUB_HOST = "huggingface.co"
ENABLE_HINT = ("to enable it, pip install open_clip_torch and run once with internet access "
               "(weights are cached), or pass a local weights file as --clip-pretrained")


class ClipUnavailable(RuntimeError):
    """open_clip or the CLIP weights cannot be had here; the message is one line."""


@dataclass
class ClipModel:
    """An open_clip model with what it needs around it: tokenizer, input size, normalisation."""

    model: torch.nn.Module
    tokenizer: object
    image_size: int
    name: str
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD


def _import_open_clip():
    try:
        import open_clip
    except ImportError:
        raise ClipUnavailable(f"CLIP score skipped: open_clip is not installed; {ENABLE_HINT}") from None
    return open_clip


def _hub_reachable(timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def load_clip(name: str = "ViT-B-32", pretrained: str = "openai",
              device: torch.device | str = "cpu") -> ClipModel:
    """Pretrained open_clip model ``name`` with weights ``pretrained`` (a tag or a local file).

    Raises :class:`ClipUnavailable` (one line) when open_clip is missing, there is no
    network to fetch the weights, or loading fails.
    """
    open_clip = _import_open_clip()
    if not os.path.isfile(pretrained) and not _hub_reachable():
        raise ClipUnavailable(f"CLIP score skipped: no network to download the {name}/{pretrained} "
                              f"weights; {ENABLE_HINT}")
    try:
        model = open_clip.create_model(name, pretrained=pretrained, device=device)
        tokenizer = open_clip.get_tokenizer(name)
    except Exception as e:  # open_clip raises RuntimeError, OSError, hub errors...
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ClipUnavailable(f"CLIP score skipped: could not load {name}/{pretrained} ({first}); "
                              f"{ENABLE_HINT}") from None
    cfg = open_clip.get_model_preprocess_cfg(model)
    return ClipModel(model.eval(), tokenizer, _side(model.visual.image_size), f"{name}/{pretrained}",
                     tuple(cfg.get("mean", OPENAI_MEAN)), tuple(cfg.get("std", OPENAI_STD)))


def _side(size) -> int:
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def tiny_clip(seed: int = 0, image_size: int = 32, width: int = 32) -> ClipModel:
    """A small, randomly initialised open_clip CLIP (about 1.6 M parameters), built offline.

    One transformer layer per tower; the real tokenizer (its vocabulary ships with
    open_clip). Weights are seeded by ``seed``; the global RNG is left untouched.
    """
    open_clip = _import_open_clip()
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    vision = CLIPVisionCfg(layers=1, width=width, head_width=16, patch_size=8, image_size=image_size)
    text = CLIPTextCfg(context_length=16, width=width, heads=2, layers=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.CLIP(embed_dim=width, vision_cfg=vision, text_cfg=text)
    tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=16)
    return ClipModel(model.eval(), tokenizer, image_size, f"tiny random CLIP (seed {seed})")


def prepare_images(clip: ClipModel, images: torch.Tensor) -> torch.Tensor:
    """Float images (N, 1 or 3, H, W) in [-1, 1] -> CLIP input (N, 3, S, S): grey to RGB, resized, normalised."""
    x = (images.float().clamp(-1, 1) + 1) / 2
    x = F.interpolate(x, size=(clip.image_size, clip.image_size), mode="bicubic", align_corners=False)
    x = x.clamp(0, 1).expand(-1, 3, -1, -1)
    mean, std = (torch.tensor(v, device=x.device).view(1, 3, 1, 1) for v in (clip.mean, clip.std))
    return (x - mean) / std


@torch.no_grad()
def similarities(clip: ClipModel, images: torch.Tensor, prompt: str = PROMPT,
                 class_names: tuple[str, ...] = DIGITS, batch_size: int = 256) -> torch.Tensor:
    """Cosine similarity (N, K) between images (N, C, H, W) in [-1, 1] and the K prompts
    ``prompt.format(name=class_names[k])``, k = 0..K-1."""
    device = next(clip.model.parameters()).device
    tokens = clip.tokenizer([prompt.format(name=name) for name in class_names]).to(device)
    text = clip.model.encode_text(tokens, normalize=True)
    out = []
    for lo in range(0, len(images), batch_size):
        x = prepare_images(clip, images[lo:lo + batch_size].to(device))
        out.append((clip.model.encode_image(x, normalize=True) @ text.T).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, len(class_names))


def clip_scores(clip: ClipModel, images: torch.Tensor, labels: torch.Tensor, prompt: str = PROMPT,
                class_names: tuple[str, ...] = DIGITS) -> dict:
    """CLIP score and zero-shot accuracy of images (N, C, H, W) in [-1, 1] against labels (N,).

    Returns ``clip_score`` (mean of 100 * max(cos, 0) with the label's prompt) and
    ``zero_shot_accuracy`` (share whose most similar prompt is the label's).
    """
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), one per image, got {tuple(labels.shape)}")
    sim = similarities(clip, images, prompt, class_names)
    own = sim.gather(1, labels.long().view(-1, 1)).squeeze(1)
    return {"clip_score": float(100 * own.clamp(min=0).mean()),
            "zero_shot_accuracy": float((sim.argmax(dim=1) == labels).float().mean())}


def clip_report(clip: ClipModel, images: torch.Tensor, labels: torch.Tensor, label_source: str,
                real_images: torch.Tensor | None = None, real_labels: torch.Tensor | None = None,
                prompt: str = PROMPT, class_names: tuple[str, ...] = DIGITS) -> dict:
    """CLIP's numbers on samples (against ``labels``: intended, or the classifier's reading, as
    ``label_source`` says) and, for scale, on real images (N', C, H, W) with their true labels
    (under the key ``real_digits``, whatever the data set)."""
    out = {"model": clip.name, "prompt": prompt, "labels": label_source,
           **clip_scores(clip, images, labels, prompt, class_names)}
    if real_images is not None and real_labels is not None and len(real_images):
        out["real_digits"] = {"n": len(real_images),
                              **clip_scores(clip, real_images, real_labels, prompt, class_names)}
    return out
