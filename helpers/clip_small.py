"""A small CLIP for MNIST: a conv image encoder and a transformer text encoder, trained to agree.

CLIP (Radford et al. 2021) embeds an image and a caption into the same space, each as a unit
vector. Training takes a batch of B (image, caption) pairs and asks the B x B matrix of cosine
similarities, scaled by a learned temperature, to pick out each image's own caption along its
row, and each caption's own image along its column: the symmetric contrastive (InfoNCE) loss.
Afterwards a caption can be scored against any image, so ten class captions classify a digit
with no classifier trained for it ("zero-shot").

This one has about 200,000 parameters and reads 28 x 28 grey digits and the word-level
captions of :mod:`helpers.tokenizer`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .tokenizer import CONTEXT, VOCABULARY


@dataclass
class ClipConfig:
    """Sizes of the small CLIP; a checkpoint stores it so that loading rebuilds the model."""

    embed_dim: int = 64            # the shared space
    channels: tuple[int, int, int] = (32, 48, 64)   # the image encoder's conv widths: 14 x 14, then 7 x 7
    width: int = 64                # the text encoder's token width
    layers: int = 2
    heads: int = 4
    vocab_size: int = len(VOCABULARY)
    context: int = CONTEXT
    init_temperature: float = 0.07
    max_logit_scale: float = 100.0  # the learned scale 1/temperature is clamped to at most this

    def to_dict(self) -> dict:
        return asdict(self)


class ImageEncoder(nn.Module):
    """Images (B, 1, 28, 28) in [-1, 1] -> embeddings (B, embed_dim): four 3 x 3 convs (28 -> 14 -> 7), mean pool, linear."""

    def __init__(self, config: ClipConfig):
        super().__init__()
        c1, c2, c3 = config.channels
        block = lambda i, o, s: [nn.Conv2d(i, o, 3, stride=s, padding=1), nn.GroupNorm(8, o), nn.SiLU()]
        self.net = nn.Sequential(*block(1, c1, 2), *block(c1, c2, 1), *block(c2, c3, 2), *block(c3, c3, 1))
        self.proj = nn.Linear(c3, config.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.net(x).mean(dim=(2, 3)))


class TextEncoder(nn.Module):
    """Tokens (B, L) with 0 as padding -> embeddings (B, embed_dim): a transformer, mean over the words."""

    def __init__(self, config: ClipConfig):
        super().__init__()
        self.token = nn.Embedding(config.vocab_size, config.width, padding_idx=0)
        self.position = nn.Parameter(torch.randn(config.context, config.width) * 0.02)
        layer = nn.TransformerEncoderLayer(config.width, config.heads, 2 * config.width, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.width)
        self.proj = nn.Linear(config.width, config.embed_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pad = tokens == 0                                                   # (B, L)
        h = self.token(tokens) + self.position[: tokens.shape[1]]
        h = self.norm(self.transformer(h, src_key_padding_mask=pad))
        keep = (~pad).unsqueeze(-1).float()
        return self.proj((h * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1))


class SmallClip(nn.Module):
    """The two encoders and the learned log-scale ``log(1 / temperature)``."""

    def __init__(self, config: ClipConfig = ClipConfig()):
        super().__init__()
        self.config = config
        self.image_encoder, self.text_encoder = ImageEncoder(config), TextEncoder(config)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / config.init_temperature)))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, 28, 28) in [-1, 1] -> unit vectors (B, embed_dim)."""
        return F.normalize(self.image_encoder(images), dim=-1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens (B, L) -> unit vectors (B, embed_dim)."""
        return F.normalize(self.text_encoder(tokens), dim=-1)

    def logit_scale(self) -> torch.Tensor:
        """1 / temperature, clamped to [1, ``max_logit_scale``]: a scalar."""
        return self.log_scale.clamp(0, math.log(self.config.max_logit_scale)).exp()

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B_images, B_texts): scaled cosine similarities of every image with every caption."""
        return self.logit_scale() * self.encode_image(images) @ self.encode_text(tokens).T


def contrastive_loss(logits: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE of logits (B, B) whose diagonal holds the matching pairs: a scalar.

    The mean of two cross-entropies: each row (an image) must pick its own column (its
    caption), and each column must pick its own row.
    """
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"logits must be square (B, B) with matching pairs on the diagonal, got {tuple(logits.shape)}")
    target = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
