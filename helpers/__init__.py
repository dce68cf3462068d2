"""Shared code of the DDPM course, one module per concept.

- :mod:`helpers.config`     every hyperparameter, as a dataclass
- :mod:`helpers.schedule`   the noise schedule, forward process q and reverse process p
- :mod:`helpers.unet`       the noise-prediction U-Net
- :mod:`helpers.data`       MNIST / Fashion-MNIST as tensors, with an offline fallback
- :mod:`helpers.train`      the training loop (EMA, budgets, resume)
- :mod:`helpers.sampling`   generating images (labels, guidance)
- :mod:`helpers.checkpoint` atomic save, checked load, model rebuilt from its config
- :mod:`helpers.plotting`   figures
- :mod:`helpers.device`     CUDA / MPS / CPU choice and generators

Import from the module that owns a name, e.g. ``from helpers.schedule import Diffusion``.
"""
__version__ = "0.1.0"
