"""A slider (with a Play button) that flips through precomputed image frames.

Used by notebook 01 (noising a digit over t) and 04 (the reverse trajectory).
Every frame is encoded to PNG bytes once, up front, so moving the slider only
swaps bytes in a :class:`ipywidgets.Image`: nothing is re-plotted or recomputed.

Only ipywidgets API that Colab's ipywidgets 7.7 also has is used (IntSlider,
Play, Image, HBox, VBox, link). The Play button is tied to the slider with
:func:`ipywidgets.link` (kernel side) rather than ``jslink``, so the whole chain
Play -> slider -> image can be tested headlessly.
"""
from __future__ import annotations

import bisect
import io
import math
from typing import Sequence

import ipywidgets as widgets
import torch
from PIL import Image as PILImage

from .io import to_uint8


def png_bytes(image: torch.Tensor, scale: int = 4) -> bytes:
    """One image (C, H, W) in [-1, 1] -> PNG bytes of size (W*scale, H*scale).

    One channel gives a grayscale PNG (mode 'L'), three channels an RGB PNG.
    Enlarged by nearest-neighbour so pixels stay sharp squares.
    """
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected one image of shape (1|3, H, W), got {tuple(image.shape)}")
    x = to_uint8(image.detach().float())
    pil = PILImage.fromarray(x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy())
    if scale != 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), PILImage.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def png_frames(images: torch.Tensor, scale: int = 4) -> list[bytes]:
    """Frames (F, C, H, W) in [-1, 1], C = 1 or 3 -> list of F PNG byte strings."""
    if images.ndim != 4:
        raise ValueError(f"expected frames of shape (F, C, H, W), got {tuple(images.shape)}")
    return [png_bytes(frame, scale) for frame in images]


def _common_step(values: Sequence[int]) -> int:
    """Greatest common divisor of the gaps between sorted ``values`` (1 for a single value)."""
    gaps = [b - a for a, b in zip(values, values[1:])]
    return math.gcd(*gaps) if gaps else 1


def frame_slider(frames: Sequence[bytes], values: Sequence[int], description: str = "t",
                 interval_ms: int = 60) -> tuple[widgets.VBox, widgets.IntSlider, widgets.Image]:
    """A Play button + IntSlider over ``values`` that shows ``frames[i]`` at ``values[i]``.

    frames: F PNG byte strings (see :func:`png_frames`); values: F strictly increasing
    ints (e.g. the timesteps t of the frames). The slider steps by the common gap of
    ``values``; between two values it shows the frame of the nearest value below.
    Returns (box, slider, image): display ``box``; setting ``slider.value`` (or the
    Play button) sets ``image.value`` to the precomputed frame bytes.
    """
    values = [int(v) for v in values]
    if len(frames) != len(values) or not frames:
        raise ValueError(f"need one value per frame, got {len(frames)} frames and {len(values)} values")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError("values must be strictly increasing")
    step = _common_step(values)
    slider = widgets.IntSlider(value=values[0], min=values[0], max=values[-1], step=step,
                               description=description, continuous_update=True)
    play = widgets.Play(value=values[0], min=values[0], max=values[-1], step=step,
                        interval=interval_ms, description="play")
    widgets.link((play, "value"), (slider, "value"))
    image = widgets.Image(value=frames[0], format="png")

    def show(change: dict) -> None:
        i = bisect.bisect_right(values, change["new"]) - 1
        image.value = frames[max(i, 0)]

    slider.observe(show, names="value")
    return widgets.VBox([widgets.HBox([play, slider]), image]), slider, image
