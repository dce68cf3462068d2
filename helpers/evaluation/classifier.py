"""A small digit classifier: the judge of generated MNIST digits.

Its softmax says which digit an image shows and how sure it is; its penultimate
layer (128 numbers per image) is the feature space in which
:mod:`helpers.evaluation.fid` measures FID and KID. Inception features, the usual
choice for FID, are trained on colour photographs and need a download: wrong for
MNIST.

The network: two blocks of two 3x3 convolutions (16 then 32 channels, BatchNorm,
ReLU, 2x2 max-pool), a 128-unit fully connected layer (the features), dropout and
a linear layer to 10 logits: about 220,000 parameters, 0.9 MB on disk, a few
thousand images per second on a laptop CPU.

Training adds light augmentation (random shifts, rotations, scalings) and
*outlier exposure*: each batch also holds non-digits (noise, flat grey, blurred
blobs) whose softmax is pushed towards uniform. Without it the network answers
"8, 100 % sure" for pure noise, and confidence would mean nothing for bad samples.

A checkpoint is a dict saved with ``torch.save``: ``kind`` ("digit_classifier"),
``format``, ``config`` (:class:`ClassifierConfig` as a dict), ``model`` (state
dict) and ``info`` (measured test accuracy, data, wall time, ...).
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..config import DATASETS
from ..data import ImageSet, epoch_order
from ..device import progress_bar, provenance
from ..io import CheckpointError, read_torch_file, save_checkpoint, save_json

KIND = "digit_classifier"
MODELS = Path(__file__).resolve().parents[2] / "models"
JUDGES = {"mnist": MODELS / "digit_classifier.pt", "fashion": MODELS / "fashion_classifier.pt"}
DEFAULT_PATH = JUDGES["mnist"]


def judge_path(dataset: str = "mnist") -> Path:
    """The committed classifier that judges images of ``dataset`` (a clear error where there is none)."""
    if dataset not in JUDGES:
        raise CheckpointError(f"no classifier judges {dataset!r} images (judges exist for {sorted(JUDGES)})"
                              + ("; CIFAR-10 samples are measured with Inception features instead"
                                 if dataset == "cifar10" else ""))
    return JUDGES[dataset]


@dataclass
class ClassifierConfig:
    """Architecture and training settings of the digit classifier."""

    dataset: str = "mnist"               # the data set it judges (sets image shape and classes)
    widths: tuple[int, int] = (16, 32)   # channels of the two convolution blocks
    feature_dim: int = 128               # size of the penultimate layer (FID/KID features)
    dropout: float = 0.3
    num_classes: int = 10
    # training
    epochs: int = 5
    batch_size: int = 128
    lr: float = 2e-3                     # peak; linear warm-up, then cosine decay to 0
    weight_decay: float = 1e-4
    seed: int = 0
    # augmentation: random affine per image
    max_shift: float = 2.0               # pixels
    max_rotation: float = 10.0           # degrees
    max_scale: float = 0.1               # +-10 %
    # outlier exposure (Hendrycks et al. 2019): non-digits trained towards a uniform softmax,
    # so that noise, blank images and blobs get low confidence instead of a confident guess
    outlier_share: float = 0.25          # outliers per batch, as a share of the batch size
    outlier_weight: float = 0.5          # weight of their loss

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; expected one of {sorted(DATASETS)}")
        if len(self.widths) != 2 or min(self.widths) < 1:
            raise ValueError(f"widths must be two positive channel counts, got {self.widths}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        """Plain-Python dict (what checkpoints store)."""
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        return d

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images it reads: its data set's."""
        info = DATASETS[self.dataset]
        return info.channels, info.image_size, info.image_size


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    """Two 3x3 conv + BatchNorm + ReLU layers, then a 2x2 max-pool (halves H and W)."""
    layers: list[nn.Module] = []
    for a, b in ((c_in, c_out), (c_out, c_out)):
        layers += [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
    return layers + [nn.MaxPool2d(2)]


class DigitClassifier(nn.Module):
    """CNN for (N, C, H, W) float images in [-1, 1] -> logits (N, num_classes).

    (C, H, W) is its data set's shape, ``config.image_shape``: (1, 28, 28) for MNIST and
    Fashion-MNIST. :meth:`features` gives the penultimate layer, (N, feature_dim).
    """

    def __init__(self, config: ClassifierConfig | None = None):
        super().__init__()
        self.config = config = config or ClassifierConfig()
        w1, w2 = config.widths
        self.body = nn.Sequential(
            *_conv_block(config.image_shape[0], w1), *_conv_block(w1, w2), nn.Flatten(),
            nn.Linear(w2 * (config.image_shape[1] // 4) ** 2, config.feature_dim, bias=False),
            nn.BatchNorm1d(config.feature_dim), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.feature_dim, config.num_classes))

    @property
    def num_features(self) -> int:
        """Size of the penultimate layer (what torchmetrics' FID/KID look for)."""
        return self.config.feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations: (N, C, H, W) in [-1, 1] -> (N, feature_dim), >= 0."""
        shape = self.config.image_shape
        if x.ndim != 4 or tuple(x.shape[1:]) != shape:
            raise ValueError(f"the {self.config.dataset} classifier takes images of shape (N, {', '.join(map(str, shape))}), "
                             f"got {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) for images (N, C, H, W) in [-1, 1]."""
        return self.head(self.features(x))


def random_affine(x: torch.Tensor, config: ClassifierConfig,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift, rotate and scale each image of (N, 1, H, W) in [-1, 1] at random; same shape.

    The background (-1) fills the borders. Ranges come from ``config``.
    """
    n, _, h, w = x.shape
    u = torch.rand(n, 4, generator=generator, device=x.device) * 2 - 1       # uniform in [-1, 1]
    angle = u[:, 0] * math.radians(config.max_rotation)
    scale = 1 + u[:, 1] * config.max_scale
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    shift = u[:, 2:] * config.max_shift * 2 / torch.tensor([w, h], device=x.device)  # pixels -> [-1, 1] units
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, padding_mode="zeros", align_corners=False) - 1


def _blur(x: torch.Tensor, passes: int = 3, k: int = 7) -> torch.Tensor:
    """Box-blur (B, 1, H, W) ``passes`` times (close to a Gaussian blur); same shape."""
    for _ in range(passes):
        x = F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)
    return x


def outliers(digits: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` images (n, 1, H, W) in [-1, 1] that are not digits, made from ``digits`` (B, 1, H, W).

    Four kinds, in turn: uniform noise, clamped Gaussian noise of random mean and spread,
    flat images of a random grey, and blobs (heavily blurred digits, stretched to [-1, 1]).
    """
    shape, dev = (n, *digits.shape[1:]), digits.device
    r = torch.rand(n, 3, 1, 1, generator=generator, device=dev)
    uniform = torch.rand(shape, generator=generator, device=dev) * 2 - 1
    gauss = (r[:, :1] - 0.5 + (0.2 + r[:, 1:2]) * torch.randn(shape, generator=generator, device=dev)).clamp(-1, 1)
    flat = (r[:, 2:] * 2 - 1).expand(shape)
    pick = torch.randint(0, len(digits), (n,), generator=generator, device=dev)
    blob = _blur(digits[pick])
    lo, hi = blob.amin((1, 2, 3), keepdim=True), blob.amax((1, 2, 3), keepdim=True)
    blob = (blob - lo) / (hi - lo + 1e-6) * 2 - 1
    kind = (torch.arange(n, device=dev) % 4).view(-1, 1, 1, 1)
    return torch.where(kind == 0, uniform, torch.where(kind == 1, gauss, torch.where(kind == 2, flat, blob)))


def batch_loss(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Cross-entropy on digits x (B, 1, 28, 28) with labels y (B,), plus outlier exposure:
    ``outlier_weight`` times the cross-entropy between the uniform distribution and the
    softmax on ``outlier_share * B`` outliers, in the same forward pass."""
    config = model.config
    n_out = int(round(config.outlier_share * len(x)))
    logits = model(torch.cat([x, outliers(x, n_out, generator)]))
    loss = F.cross_entropy(logits[:len(x)], y)
    if n_out:
        loss = loss - config.outlier_weight * F.log_softmax(logits[len(x):], dim=1).mean()
    return loss


def learning_rate(config: ClassifierConfig, step: int, total: int) -> float:
    """Linear warm-up over the first 3 % of ``total`` steps, then cosine decay to 0."""
    warmup = max(1, int(0.03 * total))
    if step < warmup:
        return config.lr * (step + 1) / warmup
    return config.lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def _check_data(data: ImageSet, config: ClassifierConfig) -> None:
    """A clear error when ``data`` is not the data set ``config`` is for."""
    if data.name and data.name != config.dataset:
        raise ValueError(f"a {config.dataset} classifier cannot train on {data.name} images")
    if data.images.ndim != 4 or tuple(data.images.shape[1:]) != config.image_shape:
        raise ValueError(f"the {config.dataset} classifier trains on (N, {', '.join(map(str, config.image_shape))}) "
                         f"images, got {tuple(data.images.shape)}")


def _train_epoch(model: DigitClassifier, opt: torch.optim.Optimizer, data: ImageSet, epoch: int,
                 step: int, total: int, generator: torch.Generator, progress: bool) -> int:
    """One pass over ``data`` in a seeded order; returns the new step count."""
    config, device = model.config, next(model.parameters()).device
    order = epoch_order(len(data), config.seed, epoch)
    batches = range(0, len(data), config.batch_size)
    bar = progress_bar(len(batches), f"epoch {epoch + 1}/{config.epochs}", progress, unit="batch")
    for lo in batches:
        idx = order[lo:lo + config.batch_size]
        x = random_affine(data.images[idx].to(device), config, generator)
        loss = batch_loss(model, x, data.labels[idx].to(device), generator)
        for group in opt.param_groups:
            group["lr"] = learning_rate(config, step, total)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    return step


def train_classifier(config: ClassifierConfig, data: ImageSet, device: torch.device | str = "cpu",
                     progress: bool = True) -> DigitClassifier:
    """Train a :class:`DigitClassifier` on ``data`` (images (N, C, H, W) in [-1, 1]).

    Deterministic for a given ``config.seed`` on a given device: weights, batch
    order, augmentation and dropout all derive from it (the global RNG is restored
    afterwards). Returns the model in eval mode.
    """
    _check_data(data, config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)              # initial weights and dropout masks
        model = DigitClassifier(config).to(device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        generator = torch.Generator(device=device).manual_seed(config.seed)
        total, step = config.epochs * math.ceil(len(data) / config.batch_size), 0
        for epoch in range(config.epochs):
            step = _train_epoch(model, opt, data, epoch, step, total, generator, progress)
    return model.eval()


@torch.no_grad()
def predict_proba(model: DigitClassifier, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Class probabilities (N, num_classes) on the CPU for float images (N, 1, 28, 28) in [-1, 1]."""
    device = next(model.parameters()).device
    model.eval()
    out = [F.softmax(model(images[lo:lo + batch_size].to(device)), dim=1).cpu()
           for lo in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, model.config.num_classes)


def accuracy(model: DigitClassifier, data: ImageSet, batch_size: int = 1000) -> float:
    """Share of ``data`` whose predicted class equals its label."""
    predicted = predict_proba(model, data.images, batch_size).argmax(dim=1)
    return float((predicted == data.labels).float().mean())


def save_classifier(model: DigitClassifier, path: str | os.PathLike, info: dict | None = None) -> Path:
    """Write the classifier (config, float32 weights, ``info``) to ``path`` atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return save_checkpoint({"kind": KIND, "config": model.config.to_dict(), "model": state,
                            "info": info or {}}, path)


def _read(path: Path) -> dict:
    """The checkpoint dict in ``path``, or a :class:`CheckpointError` naming the problem."""
    state = read_torch_file(path, "classifier checkpoint", "; train one with "
                            "'python -m helpers train-classifier --out models/digit_classifier.pt'")
    if not isinstance(state, dict) or state.get("kind") != KIND:
        raise CheckpointError(f"{path} is not a digit-classifier checkpoint (no kind={KIND!r}); "
                              "was it written by 'python -m helpers train-classifier'?")
    return state


def load_classifier(path: str | os.PathLike | None = None, device: torch.device | str = "cpu",
                    dataset: str | None = None) -> DigitClassifier:
    """Rebuild the classifier stored in ``path`` (default: the committed judge of ``dataset``,
    MNIST's when that is None too), in eval mode.

    With ``dataset`` given, a classifier trained on another data set is a :class:`CheckpointError`.
    Its ``info`` dict (test accuracy, training settings) is attached as ``model.info``,
    the file as ``model.path``.
    """
    path = Path(path) if path is not None else judge_path(dataset or "mnist")
    state = _read(path)
    try:
        model = DigitClassifier(ClassifierConfig(**state["config"]))
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"classifier checkpoint {path} does not match its config "
                              f"({str(e).splitlines()[0][:200]})") from None
    if dataset is not None and model.config.dataset != dataset:
        raise CheckpointError(f"{path} judges {model.config.dataset} images, not {dataset}; "
                              f"the {dataset} judge is {judge_path(dataset).relative_to(MODELS.parent)}")
    model.info = dict(state.get("info") or {})
    model.path = str(path)
    return model.to(device).eval()


def fit_and_save(config: ClassifierConfig, train: ImageSet, test: ImageSet, out: str | os.PathLike,
                 device: torch.device | str = "cpu", progress: bool = True, command: str = "") -> dict:
    """Train on ``train``, measure accuracy on ``test``, write ``out`` and ``out`` with suffix .json.

    Returns the record written to the JSON file (also stored in the checkpoint as ``info``).
    """
    start = time.monotonic()
    model = train_classifier(config, train, device, progress)
    wall = time.monotonic() - start
    acc = accuracy(model, test)
    info = {"test_accuracy": round(acc, 5), "test_errors": round((1 - acc) * len(test)),
            "test_images": len(test), "test_source": test.source,
            "train_images": len(train), "train_source": train.source,
            "config": config.to_dict(), "wall_time_s": round(wall, 1),
            "parameters": sum(p.numel() for p in model.parameters()), **provenance(device, command)}
    path = save_classifier(model, out, info)
    info["file_bytes"] = path.stat().st_size
    save_json(info, path.with_suffix(".json"))
    return info
