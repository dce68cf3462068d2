"""Every hyperparameter of a run, in one dataclass.

A :class:`Config` is stored (as a plain dict) in every checkpoint, so loading a
checkpoint rebuilds exactly the model and schedule that wrote it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

DATASETS = {
    # name: (channels, image_size, class names)
    "mnist": (1, 28, tuple(str(d) for d in range(10))),
    "fashion": (1, 28, ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
}


@dataclass
class Config:
    """Hyperparameters of one DDPM run.

    The defaults start from the seed report (T = 300, batch 128, Adam, 28x28
    single-channel images scaled to [-1, 1]) and change three things, each shown
    in the notebooks: the ``scaled_linear`` schedule (the seed's ``linear`` one
    leaves 22% of the signal at t = T-1, see notebook 01), a faster learning
    rate with warm-up and cosine decay (the seed's constant 1e-4 is slow), and a
    narrow U-Net (base 16 channels) with batch 64, the configuration that made the
    best digits per CPU minute in ``benchmarks/RESULTS.md``.
    :meth:`seed_report` gives the seed's own settings.
    """

    # data
    dataset: str = "mnist"
    channels: int = 1
    image_size: int = 28
    # noise schedule (timesteps are integers 0..T-1)
    T: int = 300
    schedule: str = "scaled_linear"   # "linear" (the seed's) | "scaled_linear" | "cosine"
    # U-Net
    base_channels: int = 16
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_classes: int | None = 10      # class-conditional (guidance-ready); None: unconditional
    skip_connections: bool = True     # switch off only for the ablation
    time_embedding: bool = True       # switch off only for the ablation
    # training
    batch_size: int = 64
    lr: float = 2e-3
    warmup_steps: int = 200
    lr_schedule: str = "cosine"       # "constant" | "cosine" (decays to 0 over the budget)
    grad_clip: float | None = 1.0
    ema_decay: float | None = 0.995   # None: no EMA copy of the weights
    p_uncond: float = 0.1             # label dropout for classifier-free guidance
    min_snr_gamma: float | None = None  # min-SNR loss weighting (Hang et al. 2023); None: plain MSE
    seed: int = 0
    # budgets: training stops at the first one reached (None = no limit)
    epochs: int | None = 5
    max_steps: int | None = None
    max_minutes: float | None = None

    def __post_init__(self) -> None:
        self.channel_mults = tuple(int(m) for m in self.channel_mults)
        if self.T < 2:
            raise ValueError(f"T must be at least 2 timesteps, got {self.T}")
        if self.schedule not in ("linear", "scaled_linear", "cosine"):
            raise ValueError(
                f"unknown schedule {self.schedule!r}; expected 'linear', 'scaled_linear' or 'cosine'")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; expected 'constant' or 'cosine'")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) or None, got {self.ema_decay}")
        if self.min_snr_gamma is not None and self.min_snr_gamma <= 0:
            raise ValueError(f"min_snr_gamma must be positive or None, got {self.min_snr_gamma}")
        if not 0.0 <= self.p_uncond < 1.0:
            raise ValueError(f"p_uncond must be in [0, 1), got {self.p_uncond}")

    @property
    def conditional(self) -> bool:
        """True when the model takes class labels."""
        return self.num_classes is not None

    def to_dict(self) -> dict:
        """Plain-Python dict (what checkpoints store)."""
        d = dataclasses.asdict(self)
        d["channel_mults"] = list(self.channel_mults)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        """Rebuild a Config from :meth:`to_dict` output; unknown keys raise a clear error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"config has unknown fields {unknown}; known fields are {sorted(known)}")
        return cls(**d)

    @classmethod
    def seed_report(cls, **overrides) -> "Config":
        """The seed report's settings: linear betas, batch 128, constant Adam 1e-4, no EMA, unconditional."""
        base = dict(schedule="linear", batch_size=128, lr=1e-4, warmup_steps=0, lr_schedule="constant",
                    ema_decay=None, grad_clip=None, num_classes=None)
        return cls(**{**base, **overrides})

    def replace(self, **changes) -> "Config":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def config_for_dataset(name: str, **overrides) -> Config:
    """Default config whose image shape matches dataset ``name`` ('mnist' or 'fashion')."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    channels, size, classes = DATASETS[name]
    return Config(**{"dataset": name, "channels": channels, "image_size": size,
                     "num_classes": len(classes), **overrides})
