"""The DDPM course's code, one module per concept; the notebooks import from it by name.

- :mod:`helpers.config`     every hyperparameter, as a dataclass
- :mod:`helpers.schedule`   the noise schedule and the forward process q (and its posterior)
- :mod:`helpers.samplers`   reverse steps: DDPM and DDIM, sampler specs such as "ddim:25"
- :mod:`helpers.unet`       the noise-prediction U-Net
- :mod:`helpers.data`       MNIST / Fashion-MNIST / CIFAR-10 as tensors, with an offline fallback
- :mod:`helpers.standin`    a generated stand-in for CIFAR-10, used offline
- :mod:`helpers.train`      the objective and the training loop (EMA, budgets, resume)
- :mod:`helpers.sampling`   generating images: labels, guidance, whole trajectories
- :mod:`helpers.io`         atomic files: checkpoints, samples files, results files
- :mod:`helpers.plotting`   figures; :mod:`helpers.widgets` sliders over frames
- :mod:`helpers.device`     CUDA / MPS / CPU, generators, hardware, progress bars
- :mod:`helpers.cli`        ``python -m helpers train|sample``
- :mod:`helpers.evaluation` the judge of generated images (classifier, metrics, FID, CLIP)
- :mod:`helpers.morphometry` a digit's measured shape: stroke thickness, slant, width, height
- :mod:`helpers.captions`   captions from those measurements; :mod:`helpers.tokenizer` their words as numbers
- :mod:`helpers.clip_small` a small CLIP for digits; :mod:`helpers.clip_train` its training
- :mod:`helpers.text_condition` captions as a DDPM's condition: the frozen CLIP's text side, prompts

Import from the module that owns a name, e.g. ``from helpers.schedule import Diffusion``.
"""
__version__ = "0.2.0"
