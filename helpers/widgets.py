"""A slider (with a Play button) that flips through precomputed image frames.

Used by notebook 01 (noising a digit over t) and 04 (the reverse trajectory).
Every frame is encoded to PNG bytes once, up front: moving the slider only
changes which precomputed picture is shown; nothing is re-plotted or recomputed.

Each slider position is one frame; its readout shows the frame's value (its t).
Scrubbing does not wait for the kernel: Play and slider are tied with
:func:`ipywidgets.jslink`, in the browser, and with ipywidgets 8 the picture is a
:class:`ipywidgets.Stack` of all the frames whose shown page the slider picks with
:func:`ipywidgets.jsdlink`, also in the browser. So the picture follows the slider
while other cells keep the kernel busy, and in a notebook opened without running
it (the frames travel in the saved widget state). ipywidgets 7 (Colab ships 7.7)
has no ``Stack``: there the kernel swaps the bytes of one :class:`ipywidgets.Image`
and a note under the slider says that the picture waits for an idle kernel.

Only API that both ipywidgets 7.7 and 8 have is used, except ``Stack``, which is
looked up and used only where it exists (the tests run against both versions).
Every frame lives in the browser and in the notebook's saved widget state, so a
slider should hold tens of frames, not thousands (a 300 x 600 pixel noise frame
is about 20 kB).
"""
from __future__ import annotations

import io
from typing import Sequence

import ipywidgets as widgets
import torch
from PIL import Image as PILImage

from .io import to_uint8

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


class FrameSlider(widgets.VBox):
    """The box :func:`frame_slider` returns. Besides its children it keeps, for tests and readers,
    ``frames`` and ``values`` (as given), and the widgets ``play``, ``slider`` and ``picture``."""

    def __repr__(self) -> str:
        """What a page that cannot draw widgets shows instead (GitHub; an untrusted notebook in JupyterLab)."""
        values, frames = getattr(self, "values", [0]), getattr(self, "frames", [])
        return (f"[a slider over {self.children[0].children[1].description} = {values[0]}..{values[-1]}, "
                f"{len(frames)} frames: run the notebook to use it]")


def browser_swaps_frames() -> bool:
    """True when this ipywidgets can swap the frames in the browser: it has ``Stack`` (version 8)."""
    return hasattr(widgets, "Stack")


def _browser_picture(frames: Sequence[bytes], slider: widgets.SelectionSlider) -> widgets.DOMWidget:
    """A Stack with one Image per frame; the browser shows page ``slider.index``."""
    layout = widgets.Layout()                                  # one layout for all pages, not one each
    pages = [widgets.Image(value=frame, format="png", layout=layout) for frame in frames]
    picture = widgets.Stack(pages, selected_index=slider.index)
    widgets.jsdlink((slider, "index"), (picture, "selected_index"))
    return picture


def _kernel_picture(frames: Sequence[bytes], slider: widgets.SelectionSlider) -> widgets.Image:
    """One Image whose bytes the kernel swaps when the slider moves."""
    image = widgets.Image(value=frames[slider.index], format="png")

    def show(change: dict) -> None:
        image.value = frames[change["new"]]

    slider.observe(show, names="index")
    return image


def frame_slider(frames: Sequence[bytes], values: Sequence[int], description: str = "t",
                 interval_ms: int = 60) -> tuple[FrameSlider, widgets.SelectionSlider, widgets.DOMWidget]:
    """A Play button + slider over ``values`` that shows ``frames[i]`` at ``values[i]``.

    frames: F PNG byte strings (see :func:`png_frames`); values: F strictly increasing
    ints (e.g. the timesteps t of the frames, evenly spaced or not). The slider has one
    position per frame and reads out its value; ``slider.value`` is that value
    (setting it to one of ``values`` moves the slider), ``slider.index`` the frame's
    index. The Play button advances one frame every ``interval_ms``.
    Returns (box, slider, picture): display ``box``. ``picture`` is a Stack of Images
    whose page ``slider.index`` the browser shows (ipywidgets 8, see
    :func:`browser_swaps_frames`), else one Image whose ``value`` the kernel sets to
    the frame's bytes whenever the slider moves.
    """
    values = [int(v) for v in values]
    if len(frames) != len(values) or not frames:
        raise ValueError(f"need one value per frame, got {len(frames)} frames and {len(values)} values")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError("values must be strictly increasing")
    slider = widgets.SelectionSlider(options=[(str(v), v) for v in values], value=values[0],
                                     description=description, continuous_update=True)
    play = widgets.Play(value=0, min=0, max=len(values) - 1, step=1, interval=interval_ms, description="play")
    widgets.jslink((slider, "index"), (play, "value"))
    if browser_swaps_frames():
        picture, below = _browser_picture(frames, slider), []
    else:
        picture, below = _kernel_picture(frames, slider), [widgets.Label(KERNEL_NOTE)]
    box = FrameSlider([widgets.HBox([play, slider]), picture, *below])
    box.add_class("frame-slider")
    box.frames, box.values, box.play, box.slider, box.picture = list(frames), values, play, slider, picture
    return box, slider, picture
