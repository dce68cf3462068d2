"""Every hyperparameter of a run, in one dataclass.

A :class:`Config` is stored (as a plain dict) in every checkpoint, so loading a
checkpoint rebuilds exactly the model and schedule that wrote it. Every field
carries its help text; ``python -m helpers train`` makes one flag per field
from it (:func:`helpers.cli.add_config_flags`), so no setting is out of reach.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple


class DatasetInfo(NamedTuple):
    """Shape, class names and split sizes of a data set this course knows."""

    channels: int
    image_size: int
    classes: tuple[str, ...]
    train_size: int
    test_size: int


DATASETS = {
    "mnist": DatasetInfo(1, 28, tuple(str(d) for d in range(10)), 60_000, 10_000),
    "fashion": DatasetInfo(1, 28, ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                   "Shirt", "Sneaker", "Bag", "Ankle boot"), 60_000, 10_000),
    "cifar10": DatasetInfo(3, 32, ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                   "ship", "truck"), 50_000, 10_000),
}
# Settings besides the image shape that a data set brings (config_for_dataset); MNIST and
# Fashion-MNIST use the Config defaults. CIFAR-10's colour photographs need a wider U-Net with a
# fourth level (32 -> 16 -> 8 -> 4) and self-attention at 8x8 (Ho et al. 2020 put it at 16x16).
PRESETS = {
    "cifar10": dict(base_channels=64, channel_mults=(1, 2, 2, 2), attention=(8,)),
}
SCHEDULES = ("linear", "rescaled_linear", "cosine")
METHODS = ("ddpm", "flow")
CONDITIONS = ("class", "text")                   # what a conditional model is told about the image it makes
PREDICTIONS = ("eps", "x0", "v", "velocity")     # helpers.prediction
PREDICTS = {"ddpm": ("eps", "x0", "v"), "flow": ("velocity", "x0", "v")}   # what each method's samplers can use
RENAMED = {"scaled_linear": "rescaled_linear"}   # old name -> new name (still read from old checkpoints)


def _field(default, help: str, choices: tuple | None = None):
    """A dataclass field with its help text (and allowed values) for the command line."""
    if isinstance(default, tuple):
        return field(default_factory=lambda: default, metadata={"help": help})
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass
class Config:
    """Hyperparameters of one DDPM run.

    The defaults start from the student report (T = 300, Adam, 28x28 single-channel
    images scaled to [-1, 1]) and change what the course measures to matter: the
    ``rescaled_linear`` schedule (the report's ``linear`` one leaves 22% of the signal
    at t = T-1, notebook 01), a faster learning rate with warm-up and cosine decay,
    class labels for guidance, an EMA copy of the weights, and a narrow U-Net (12, 24 and
    48 channels at 28, 14 and 7 pixels: narrow where the maps are large, widest where they are
    small) at batch 64, which makes the best digits per CPU minute of the designs measured.
    :meth:`student_report` gives the report's own settings.
    """

    dataset: str = _field("mnist", "data set; sets channels, image_size and num_classes to match",
                          tuple(DATASETS))
    channels: int = _field(1, "image channels (1 for MNIST, 3 for colour images)")
    image_size: int = _field(28, "image height and width in pixels")
    method: str = _field("ddpm", "ddpm: the discrete noising chain (Ho et al. 2020); flow: flow matching on the "
                         "linear path x_t = (1 - t) x0 + t eps, t in [0, 1] (helpers.flow)", METHODS)
    prediction: str | None = _field(None, "what the network outputs: eps, x0, v (alpha eps - sigma x0) or "
                                    "velocity (d x_t / dt); none: the method's own (ddpm: eps, flow: velocity)",
                                    PREDICTIONS)
    T: int = _field(300, "steps of the diffusion chain; timesteps are the integers 0..T-1 "
                    "(flow: the network is shown t in [0, 1] as t * (T - 1))")
    schedule: str = _field("rescaled_linear", "noise schedule: linear (betas 1e-4 to 0.02), "
                           "rescaled_linear (the same line times 1000/T), cosine", SCHEDULES)
    base_channels: int = _field(12, "U-Net width at full resolution")
    channel_mults: tuple[int, ...] = _field((1, 2, 4), "width multiplier per resolution, e.g. 1,2,4")
    attention: tuple[int, ...] = _field((), "resolutions (in pixels) at which self-attention follows the "
                                        "residual blocks, e.g. 8 or 16,8 (CIFAR-10's preset: 8; MNIST: none)")
    scale_shift: bool = _field(False, "inject the time and class embedding as a scale and shift of the "
                               "residual blocks' second GroupNorm (adaptive GroupNorm) instead of adding it")
    num_classes: int | None = _field(10, "classes the model is conditioned on; none: unconditional")
    condition: str = _field("class", "what the model is told: class (a label in 0..num_classes-1) or text (a caption, "
                            "embedded by the frozen small CLIP named by clip; MNIST only)", CONDITIONS)
    clip: str = _field("models/clip_small.pt", "small-CLIP checkpoint whose text encoder embeds the captions of a "
                       "condition-text model (relative paths: from the course's root); its SHA-256 is checked on load")
    skip_connections: bool = _field(True, "U-Net skip connections (switch off only for the ablation)")
    time_embedding: bool = _field(True, "timestep embedding (switch off only for the ablation)")
    batch_size: int = _field(64, "images per optimiser step (the global batch, split over torchrun's processes)")
    lr: float = _field(2e-3, "peak learning rate of Adam")
    warmup_steps: int = _field(200, "steps of linear learning-rate warm-up")
    lr_schedule: str = _field("cosine", "after warm-up: constant, or cosine decay to 0 over the budget",
                              ("constant", "cosine"))
    grad_clip: float | None = _field(1.0, "clip the gradient norm to this; none: no clipping")
    ema_decay: float | None = _field(0.995, "decay of the EMA copy used for sampling; none: no EMA")
    p_uncond: float = _field(0.1, "probability of dropping a label (or caption) to 'no label' (for guidance)")
    min_snr_gamma: float | None = _field(None, "min-SNR loss weighting gamma (Hang et al. 2023); "
                                         "none: plain mean squared error")
    timesteps: str = _field("uniform", "how training draws t: uniform (over 0..T-1, or t in [0, 1] for flow), "
                            "lognormal: EDM's noise distribution (ln sigma ~ N(-1.2, 1.2^2), sigma^2 = (1 - alpha_bar) "
                            "/ alpha_bar) at the nearest timestep, or logit_normal: ln sigma ~ N(0, 1) (Esser et al. "
                            "2024; on the flow path ln sigma = logit t)", ("uniform", "lognormal", "logit_normal"))
    mixed_precision: bool = _field(False, "train under bfloat16 autocast (fast on GPUs and recent CPUs)")
    seed: int = _field(0, "seed of the initial weights, the batch order and the noise")
    epochs: int | None = _field(5, "budget: passes over the training set; none: no limit")
    max_steps: int | None = _field(None, "budget: optimiser steps; none: no limit")
    max_minutes: float | None = _field(None, "budget: wall-clock minutes; none: no limit")

    def __post_init__(self) -> None:
        self.channel_mults = tuple(int(m) for m in self.channel_mults)
        self.attention = tuple(int(r) for r in self.attention)
        if self.prediction is None:
            self.prediction = "velocity" if self.method == "flow" else "eps"
        for name in ("dataset", "schedule", "lr_schedule", "timesteps", "method", "prediction", "condition"):
            choices = next(f for f in dataclasses.fields(self) if f.name == name).metadata["choices"]
            if getattr(self, name) not in choices:
                hint = f" (renamed {RENAMED[self.schedule]!r})" if name == "schedule" and self.schedule in RENAMED else ""
                raise ValueError(f"unknown {name} {getattr(self, name)!r}{hint}; expected one of {list(choices)}")
        problems = [f"T must be at least 2, got {self.T}" if self.T < 2 else "",
                    f"batch_size must be positive, got {self.batch_size}" if self.batch_size < 1 else "",
                    f"base_channels and channel_mults must be positive, got {self.base_channels} and "
                    f"{self.channel_mults}" if self.base_channels < 1 or min(self.channel_mults, default=0) < 1 else "",
                    f"ema_decay must be in (0, 1) or none, got {self.ema_decay}"
                    if self.ema_decay is not None and not 0 < self.ema_decay < 1 else "",
                    f"min_snr_gamma must be positive or none, got {self.min_snr_gamma}"
                    if self.min_snr_gamma is not None and self.min_snr_gamma <= 0 else "",
                    f"p_uncond must be in [0, 1), got {self.p_uncond}" if not 0 <= self.p_uncond < 1 else "",
                    f"num_classes must be positive or none, got {self.num_classes}"
                    if self.num_classes is not None and self.num_classes < 1 else "",
                    self._attention_problem(), self._method_problem(), self._condition_problem()]
        if any(problems):
            raise ValueError("; ".join(p for p in problems if p))

    def _method_problem(self) -> str:
        """'' when the prediction and loss options fit the method, else what is wrong."""
        if self.prediction not in PREDICTS[self.method]:
            why = ("eps at t = 1 (pure noise) says nothing about x0" if self.method == "flow"
                   else "velocity is d x_t / dt of a continuous path; a DDPM chain is discrete")
            return (f"prediction {self.prediction!r} does not fit method {self.method!r} ({why}); "
                    f"use one of {list(PREDICTS[self.method])}")
        if self.method == "flow" and self.min_snr_gamma is not None:
            return "min_snr_gamma weights the DDPM noise-prediction loss; set it to none for method 'flow'"
        if self.prediction != "eps" and self.min_snr_gamma is not None:
            return (f"min_snr_gamma weights the noise-prediction (eps) loss; with prediction {self.prediction!r} "
                    "set it to none")
        return ""

    def _condition_problem(self) -> str:
        """'' when the conditioning fits the data set, else what is wrong."""
        if self.condition == "text" and self.dataset != "mnist":
            return f"condition 'text' needs MNIST (the captions describe digits), got dataset {self.dataset!r}"
        if self.condition == "text" and self.num_classes is None:
            return "condition 'text' needs num_classes (the captions name the class); leave it at 10"
        return ""

    def resolutions(self) -> tuple[int, ...]:
        """The U-Net's feature-map sizes, one per entry of channel_mults: (28, 14, 7) by default."""
        return tuple(self.image_size // 2**i for i in range(len(self.channel_mults)))

    def _attention_problem(self) -> str:
        """'' when every attention resolution is one the U-Net has, else what is wrong."""
        wrong = [r for r in self.attention if r not in self.resolutions()]
        return (f"attention at {wrong} is not a resolution of this U-Net; its resolutions are "
                f"{list(self.resolutions())}" if wrong else "")

    @property
    def conditional(self) -> bool:
        """True when the model takes a condition: class labels, or captions (``condition`` "text")."""
        return self.num_classes is not None

    def to_dict(self) -> dict:
        """Plain-Python dict (what checkpoints store)."""
        d = dataclasses.asdict(self)
        d["channel_mults"] = list(self.channel_mults)
        d["attention"] = list(self.attention)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        """Rebuild a Config from :meth:`to_dict` output (old schedule names accepted; fields
        added since, such as ``attention``, take their defaults)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"config has unknown fields {unknown}; known fields are {sorted(known)}")
        return cls(**{**d, "schedule": RENAMED.get(d.get("schedule"), d.get("schedule", cls.schedule))})

    @classmethod
    def student_report(cls, **overrides) -> "Config":
        """The student report's settings: linear betas, batch 128, constant Adam 1e-4, no EMA, no labels."""
        base = dict(schedule="linear", batch_size=128, lr=1e-4, warmup_steps=0, lr_schedule="constant",
                    ema_decay=None, grad_clip=None, num_classes=None)
        return cls(**{**base, **overrides})

    def replace(self, **changes) -> "Config":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def config_for_dataset(name: str, **overrides) -> Config:
    """Default config whose image shape and classes match dataset ``name``, with its preset
    (:data:`PRESETS`: CIFAR-10's wider U-Net with attention); ``overrides`` win."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    info = DATASETS[name]
    return Config(**{"dataset": name, "channels": info.channels, "image_size": info.image_size,
                     "num_classes": len(info.classes), **PRESETS.get(name, {}), **overrides})
