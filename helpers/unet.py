"""A small U-Net that predicts the noise in x_t, as the student report describes it.

GroupNorm and GELU, downsampling by strided Conv2d, upsampling by
ConvTranspose2d, a skip connection at every resolution, and a sinusoidal
timestep embedding (plus an optional class embedding) added inside every
residual block. For 28x28 inputs and ``channel_mults=(1, 2, 4)`` the
resolutions are 28 -> 14 -> 7 -> 14 -> 28: every stride-2 layer halves or
doubles the size exactly, so the output has the input's shape with no
resizing or interpolation.

Optionally a :class:`SelfAttention` block follows the residual blocks at chosen
resolutions (``attention``, e.g. 8x8 for CIFAR-10's 32 -> 16 -> 8 -> 4), as in
Ho et al. (2020); the MNIST default has none.

A text-conditioned U-Net (``text_dim``) takes instead of a label a caption's embedding from the
frozen small CLIP (:mod:`helpers.text_condition`): one linear layer projects it, and the result
is added to the time embedding, exactly where the class embedding goes. The whole caption is
one vector; letting each block attend to the caption's words (cross-attention, as large
text-to-image models do) is out of scope here.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Vaswani et al. 2017; Ho et al. 2020).

    t: (B,) integers 0..T-1; returns (B, dim): [sin(t w_0), ..., cos(t w_0), ...]
    with frequencies w_i = max_period ** (-i / (dim/2)).
    """
    if dim % 2:
        raise ValueError(f"embedding dim must be even, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


TEXT_DIM = 64     # the small CLIP's embedding size (helpers.clip_small.ClipConfig.embed_dim)


def null_condition(model: nn.Module, y: torch.Tensor) -> torch.Tensor:
    """The "no condition" tensor shaped like ``y``: the label ``model.num_classes`` for class labels (B,),
    a zero row (never a unit-length CLIP embedding; the U-Net puts its learned null vector there)
    for caption embeddings (B, D)."""
    return torch.zeros_like(y) if y.is_floating_point() else torch.full_like(y, model.num_classes)


def _sizes_that_work(factor: int) -> str:
    """Which of the course's image sizes a U-Net that halves the size log2(factor) times can take."""
    ok = [f"{size} for {name}" for size, name in ((28, "MNIST"), (32, "CIFAR-10")) if size % factor == 0]
    return f"e.g. {' or '.join(ok)}" if ok else "neither MNIST's 28 nor CIFAR-10's 32: use fewer levels"


def _groups(channels: int) -> int:
    """Largest group count <= 8 that divides ``channels``."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class ResBlock(nn.Module):
    """GroupNorm -> GELU -> Conv, add the embedding, GroupNorm -> GELU -> Conv, plus a residual.

    x: (B, in_ch, H, W), emb: (B, emb_dim) -> (B, out_ch, H, W). With ``scale_shift`` the
    embedding is not added but sets a per-channel scale and shift of the second GroupNorm's
    output, h = norm(h) * (1 + scale) + shift (adaptive GroupNorm, Dhariwal & Nichol 2021): the
    time and class then multiply the features instead of only offsetting them.
    """

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, scale_shift: bool = False):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(in_ch), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.scale_shift = scale_shift
        self.emb = nn.Linear(emb_dim, 2 * out_ch if scale_shift else out_ch)
        self.norm2 = nn.GroupNorm(_groups(out_ch), out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.act = nn.GELU()
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        e = self.emb(emb)[:, :, None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.norm2(h) * (1 + scale) + shift
        else:
            h = self.norm2(h + e)
        h = self.conv2(self.act(h))
        return h + self.skip(x)


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H*W positions of a feature map, plus a residual.

    x: (B, C, H, W) -> (B, C, H, W). GroupNorm, then a 1x1 convolution makes a query, key and
    value of C/heads numbers per head at every position; each position's output is the
    softmax(q k^T / sqrt(C/heads))-weighted mean of the values of all H*W positions
    (:func:`torch.nn.functional.scaled_dot_product_attention`); a 1x1 convolution, started at
    zero so that the block begins as the identity, maps it back and adds it to x. Every pixel
    can see every other at once, where a 3x3 convolution sees its neighbours: the cost grows
    with (H*W)^2, so it is used only at small resolutions.
    """

    def __init__(self, ch: int, heads: int = 4):
        super().__init__()
        self.heads = heads if ch % heads == 0 else 1
        self.norm = nn.GroupNorm(_groups(ch), ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        qkv = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, H * W)
        q, k, v = qkv.transpose(-1, -2).unbind(1)                # each (B, heads, H*W, C/heads)
        h = F.scaled_dot_product_attention(q, k, v)              # (B, heads, H*W, C/heads)
        return x + self.proj(h.transpose(-1, -2).reshape(B, C, H, W))


class Downsample(nn.Module):
    """Strided 3x3 convolution: (B, C, H, W) -> (B, C, H/2, W/2) for even H, W."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Transposed 4x4 convolution, stride 2: (B, C, H, W) -> (B, C, 2H, 2W) exactly."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.ConvTranspose2d(ch, ch, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class UNet(nn.Module):
    """Noise-prediction U-Net: ``model(x_t, t, y=None) -> eps``, same shape as ``x_t``.

    x_t: (B, in_channels, image_size, image_size); t: (B,) LongTensor in 0..T-1;
    y: (B,) LongTensor of class labels in 0..num_classes, where ``num_classes``
    itself is the extra "no label" index (used for classifier-free guidance);
    ``y=None`` means "no label" for every image. A text model (``text_dim``) takes instead
    y: (B, text_dim) caption embeddings, a zero row meaning "no caption" (its learned
    ``null_text`` vector is used there: caption dropout and guidance's unconditional branch). ``attention``: the resolutions (in pixels)
    at which a :class:`SelfAttention` block follows each residual block (down, middle, up);
    ``scale_shift``: inject the embedding as a scale and shift (:class:`ResBlock`).
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, base_channels: int = 12,
                 channel_mults: tuple[int, ...] = (1, 2, 4), num_classes: int | None = None,
                 skip_connections: bool = True, time_embedding: bool = True,
                 attention: tuple[int, ...] = (), scale_shift: bool = False, text_dim: int | None = None):
        super().__init__()
        if num_classes and text_dim:
            raise ValueError("a U-Net is conditioned on class labels (num_classes) or on text (text_dim), not both")
        self.factor = 2 ** (len(channel_mults) - 1)
        if image_size % self.factor or image_size < self.factor:
            raise ValueError(
                f"image_size {image_size} is not supported with {len(channel_mults)} resolution "
                f"levels: it must be a multiple of {self.factor} ({_sizes_that_work(self.factor)})")
        sizes = [image_size // 2**i for i in range(len(channel_mults))]
        if set(attention) - set(sizes):
            raise ValueError(f"attention at {sorted(set(attention) - set(sizes))} is not a resolution of "
                             f"this U-Net; its resolutions are {sizes}")
        self.in_channels, self.image_size, self.num_classes = in_channels, image_size, num_classes
        self.skip_connections, self.time_embedding = skip_connections, time_embedding
        self.base_channels = base_channels
        emb_dim = 4 * base_channels
        self.time_mlp = nn.Sequential(nn.Linear(base_channels, emb_dim), nn.GELU(),
                                      nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        self.text_dim, self.conditional = text_dim, bool(num_classes or text_dim)
        self.text_proj = nn.Linear(text_dim, emb_dim) if text_dim else None
        self.null_text = nn.Parameter(torch.randn(text_dim) / text_dim ** 0.5) if text_dim else None
        chans = [base_channels * m for m in channel_mults]
        self.stem = nn.Conv2d(in_channels, chans[0], 3, padding=1)

        def attend(level: int, ch: int) -> nn.Module:
            return SelfAttention(ch) if sizes[level] in attention else nn.Identity()

        self.down_blocks, self.down_attn, self.downs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        prev = chans[0]
        for i, ch in enumerate(chans):
            self.down_blocks.append(ResBlock(prev, ch, emb_dim, scale_shift))
            self.down_attn.append(attend(i, ch))
            self.downs.append(Downsample(ch) if i < len(chans) - 1 else nn.Identity())
            prev = ch
        self.mid = ResBlock(prev, prev, emb_dim, scale_shift)
        self.mid_attn = attend(len(chans) - 1, prev)
        self.up_blocks, self.up_attn, self.ups = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for i in reversed(range(len(chans))):
            skip_ch = chans[i] if skip_connections else 0
            self.up_blocks.append(ResBlock(prev + skip_ch, chans[i], emb_dim, scale_shift))
            self.up_attn.append(attend(i, chans[i]))
            self.ups.append(Upsample(chans[i]) if i > 0 else nn.Identity())
            prev = chans[i]
        self.out = nn.Sequential(nn.GroupNorm(_groups(prev), prev), nn.GELU(),
                                 nn.Conv2d(prev, in_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)   # start by predicting eps = 0 (loss 1.0)
        nn.init.zeros_(self.out[-1].bias)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError naming the expected shape when ``x`` does not fit."""
        want = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(
                f"UNet expects input of shape (B, {want[0]}, {want[1]}, {want[2]}), got "
                f"{tuple(x.shape)}. This model was built for {want[0]}-channel "
                f"{want[1]}x{want[2]} images; sizes that work are multiples of {self.factor} "
                f"({_sizes_that_work(self.factor)}), set by image_size/in_channels at construction.")

    def embed(self, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Time (and class or caption) embedding, (B,) -> (B, 4 * base_channels)."""
        if not self.time_embedding:
            t = torch.zeros_like(t)          # ablation: every step looks the same to the model
        emb = self.time_mlp(timestep_embedding(t, self.base_channels))
        if y is not None and y.is_floating_point() != bool(self.text_dim):
            raise ValueError("this U-Net is conditioned on text: give caption embeddings (B, text_dim), not labels"
                             if self.text_dim else "this U-Net takes class labels (B,) as integers, not embeddings")
        if self.text_proj is not None:
            return emb + self.text_proj(self.text_condition(y, t.shape[0]))
        if self.class_emb is not None:
            if y is None:
                y = torch.full_like(t, self.num_classes)
            if y.min() < 0 or y.max() > self.num_classes:
                raise ValueError(f"labels must be in 0..{self.num_classes} ({self.num_classes} = "
                                 f"no label), got values from {int(y.min())} to {int(y.max())}")
            emb = emb + self.class_emb(y)
        return emb

    def text_condition(self, y: torch.Tensor | None, n: int) -> torch.Tensor:
        """Caption embeddings (n, text_dim) with every zero row (and y None: every row) the learned null vector."""
        if y is None:
            return self.null_text.expand(n, -1)
        if y.shape != (n, self.text_dim):
            raise ValueError(f"caption embeddings must have shape ({n}, {self.text_dim}), got {tuple(y.shape)}")
        null = (y == 0).all(dim=1, keepdim=True)
        return torch.where(null, self.null_text.to(y.dtype), y)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.check_input(x)
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must have shape ({x.shape[0]},) to match the batch, got {tuple(t.shape)}")
        emb = self.embed(t, y)
        h, skips = self.stem(x), []
        for block, attn, down in zip(self.down_blocks, self.down_attn, self.downs):
            h = attn(block(h, emb))
            skips.append(h)
            h = down(h)
        h = self.mid_attn(self.mid(h, emb))
        for block, attn, up in zip(self.up_blocks, self.up_attn, self.ups):
            skip = skips.pop()
            h = attn(block(torch.cat([h, skip], dim=1) if self.skip_connections else h, emb))
            h = up(h)
        return self.out(h)


def unet_from_config(config) -> UNet:
    """The :class:`UNet` described by a :class:`helpers.config.Config`."""
    text = getattr(config, "condition", "class") == "text"
    return UNet(config.channels, config.image_size, config.base_channels, config.channel_mults,
                None if text else config.num_classes, config.skip_connections, config.time_embedding,
                config.attention, config.scale_shift, TEXT_DIM if text else None)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
