"""A slider (with a Play button) that flips through precomputed image frames.

Used by notebook 01 (noising a digit over t) and 04 (the reverse trajectory).
Every frame is encoded to PNG bytes once, up front: moving the slider only
changes which precomputed picture is shown; nothing is re-plotted or recomputed.

Scrubbing does not wait for the kernel. Play and slider are tied with
:func:`ipywidgets.jslink`, in the browser. With ipywidgets 8 the picture is a
:class:`ipywidgets.Stack` holding every frame, and the slider picks the shown one
with :func:`ipywidgets.jsdlink`, also in the browser: the picture follows the slider
while other cells keep the kernel busy, and in a notebook opened without running
it (the frames travel in the saved widget state). ipywidgets 7 (Colab ships 7.7)
has no ``Stack``; there the kernel swaps the bytes of one :class:`ipywidgets.Image`
and a note under the slider says that the picture waits for an idle kernel.

Only API that both ipywidgets 7.7 and 8 have is used, except ``Stack``, which is
looked up and used only where it exists (the tests run against both versions).
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

STACK_MAX_T = 4096      # the browser-side picture keeps one Stack page per slider position 0..max(values)
KERNEL_NOTE = ("The picture follows the slider once the kernel is idle: while other cells run, "
               "it waits for them (ipywidgets 8 swaps the frames in the browser instead).")


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


def frame_at(values: Sequence[int], t: int) -> int:
    """Index of the frame shown at slider value ``t``: the one of the nearest value <= t (0 below them all)."""
    return max(bisect.bisect_right(values, t) - 1, 0)


class FrameSlider(widgets.VBox):
    """The box :func:`frame_slider` returns. Besides its children it keeps, for tests and readers,
    ``frames`` and ``values`` (as given), and the widgets ``play``, ``slider`` and ``picture``."""

    def __repr__(self) -> str:
        """What a page that cannot draw widgets shows instead (GitHub; an untrusted notebook in JupyterLab)."""
        values, frames = getattr(self, "values", [0]), getattr(self, "frames", [])
        return (f"[a slider over {self.children[0].children[1].description} = {values[0]}..{values[-1]}, "
                f"{len(frames)} frames: run the notebook to use it]")


def browser_swaps_frames(values: Sequence[int]) -> bool:
    """True when this ipywidgets can swap the frames in the browser (it has ``Stack``) for these values."""
    return hasattr(widgets, "Stack") and values[0] >= 0 and values[-1] <= STACK_MAX_T


def _browser_picture(frames: Sequence[bytes], values: list[int],
                     slider: widgets.IntSlider) -> widgets.DOMWidget:
    """A Stack whose page t is the frame shown at slider value t; the browser selects the page."""
    images = [widgets.Image(value=frame, format="png") for frame in frames]
    pages = [images[frame_at(values, t)] for t in range(values[-1] + 1)]   # pages repeat images: no copies
    picture = widgets.Stack(pages, selected_index=slider.value)
    widgets.jsdlink((slider, "value"), (picture, "selected_index"))
    return picture


def _kernel_picture(frames: Sequence[bytes], values: list[int],
                    slider: widgets.IntSlider) -> widgets.Image:
    """One Image whose bytes the kernel swaps when the slider moves."""
    image = widgets.Image(value=frames[frame_at(values, slider.value)], format="png")

    def show(change: dict) -> None:
        image.value = frames[frame_at(values, change["new"])]

    slider.observe(show, names="value")
    return image


def frame_slider(frames: Sequence[bytes], values: Sequence[int], description: str = "t",
                 interval_ms: int = 60) -> tuple[FrameSlider, widgets.IntSlider, widgets.DOMWidget]:
    """A Play button + IntSlider over ``values`` that shows ``frames[i]`` at ``values[i]``.

    frames: F PNG byte strings (see :func:`png_frames`); values: F strictly increasing
    ints (e.g. the timesteps t of the frames). The slider steps by the common gap of
    ``values``; between two values it shows the frame of the nearest value below
    (:func:`frame_at`). The Play button advances the slider every ``interval_ms``.
    Returns (box, slider, picture): display ``box``. ``picture`` is a Stack of Images
    whose page ``slider.value`` the browser shows (ipywidgets 8, see
    :func:`browser_swaps_frames`), else one Image whose ``value`` the kernel sets to
    the frame's bytes whenever ``slider.value`` changes.
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
    widgets.jslink((slider, "value"), (play, "value"))
    if browser_swaps_frames(values):
        picture, below = _browser_picture(frames, values, slider), []
    else:
        picture, below = _kernel_picture(frames, values, slider), [widgets.Label(KERNEL_NOTE)]
    box = FrameSlider([widgets.HBox([play, slider]), picture, *below])
    box.add_class("frame-slider")
    box.frames, box.values, box.play, box.slider, box.picture = list(frames), values, play, slider, picture
    return box, slider, picture
