"""Headless tests of the frame slider: the picture shown is the frame precomputed for t.

They run against the installed ipywidgets (8.x) and, in CI, against ipywidgets 7.7 (Colab's):
``make test-widgets7``. The browser side (what JupyterLab draws) is tested by ``make test-browser``.
"""
import io

import ipywidgets as widgets
import pytest
import torch
from ipywidgets.widgets import widget as widget_module
from ipywidgets.widgets.widget_link import Link
from PIL import Image as PILImage

from helpers import widgets as frame_widgets
from helpers.widgets import KERNEL_NOTE, browser_swaps_frames, frame_slider, png_bytes, png_frames

HAS_STACK = hasattr(widgets, "Stack")


def _frames(n: int, channels: int = 1, size: int = 8) -> torch.Tensor:
    """(n, channels, size, size) frames in [-1, 1], each a different flat gray level."""
    levels = torch.linspace(-1, 1, n)
    return levels[:, None, None, None].expand(n, channels, size, size).clone()


def _decode(png: bytes) -> PILImage.Image:
    img = PILImage.open(io.BytesIO(png))
    img.load()
    return img


def _shown(box) -> bytes:
    """The bytes the browser shows for the slider's position: the Stack page ``slider.index``
    (which the jsdlink selects) or the Image's value (which the kernel sets)."""
    if isinstance(box.picture, widgets.Image):
        return box.picture.value
    return box.picture.children[box.slider.index].value


@pytest.fixture(params=["browser", "kernel"])
def swap(request, monkeypatch):
    """Each test of the slider runs with the frames swapped in the browser (ipywidgets 8 only) and by the kernel."""
    if request.param == "browser" and not HAS_STACK:
        pytest.skip("ipywidgets 7 has no Stack: the kernel swaps the frames")
    monkeypatch.setattr(frame_widgets, "browser_swaps_frames", lambda: request.param == "browser")
    return request.param


def _links() -> list[tuple[tuple, tuple]]:
    """(source, target) of every live jslink/jsdlink in this process (ipywidgets 8 and 7 keep them differently)."""
    registry = getattr(widget_module, "_instances", None)
    if registry is None:
        registry = widgets.Widget.widgets                     # ipywidgets 7
    return [(w.source, w.target) for w in list(registry.values()) if isinstance(w, Link)]


def test_png_frames_one_channel_is_grayscale():
    frames = png_frames(_frames(3, channels=1, size=7), scale=4)
    assert len(frames) == 3
    img = _decode(frames[2])
    assert img.mode == "L" and img.size == (28, 28)
    assert img.getpixel((0, 0)) == 255            # +1 -> white
    assert _decode(frames[0]).getpixel((5, 5)) == 0   # -1 -> black


def test_png_frames_three_channels_is_rgb_with_channels_in_order():
    image = torch.full((1, 3, 5, 6), -1.0)
    image[0, 0] = 1.0                              # pure red
    img = _decode(png_frames(image, scale=2)[0])
    assert img.mode == "RGB" and img.size == (12, 10)   # PIL size is (width, height)
    assert img.getpixel((3, 3)) == (255, 0, 0)


def test_png_frames_rejects_bad_shapes():
    with pytest.raises(ValueError):
        png_frames(torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError):
        png_frames(torch.zeros(1, 8, 8))


def test_frames_swap_in_the_browser_exactly_where_ipywidgets_has_stack():
    major = int(widgets.__version__.split(".")[0])
    assert browser_swaps_frames() == (major >= 8)


@pytest.mark.parametrize("values", [list(range(0, 300, 10)), [0, 4, 10, 299], [-5, -2]])
def test_slider_shows_the_frame_of_its_value(swap, values):
    frames = png_frames(_frames(len(values)), scale=2)
    assert len(set(frames)) == len(frames)        # every frame differs
    box, slider, picture = frame_slider(frames, values)
    assert (box.slider, box.picture, box.frames, box.values) == (slider, picture, frames, values)
    assert _shown(box) == frames[0] and slider.value == values[0]
    assert slider.options == tuple((str(v), v) for v in values)      # one position per frame, read out as its t
    for i in (len(values) // 2, len(values) - 1, 0):
        slider.value = values[i]
        assert slider.index == i
        assert _shown(box) == frames[i], f"slider at {values[i]} shows another frame than frame {i}"


def test_play_and_slider_are_linked_in_the_browser(swap):
    box, slider, _ = frame_slider(png_frames(_frames(4), scale=1), [0, 5, 7, 9], interval_ms=40)
    play = box.play
    assert ((slider, "index"), (play, "value")) in _links(), "Play and slider must be tied by a jslink"
    assert (play.min, play.max, play.step, play.interval) == (0, 3, 1, 40)    # Play steps through the frames
    assert box.children[0].children == (play, slider)


@pytest.mark.skipif(not HAS_STACK, reason="ipywidgets 7 has no Stack: the kernel swaps the frames")
def test_browser_picture_is_a_stack_the_slider_selects():
    values = [0, 4, 10]
    frames = png_frames(_frames(3), scale=1)
    box, slider, picture = frame_slider(frames, values)
    assert isinstance(picture, widgets.Stack) and picture.selected_index == 0
    assert ((slider, "index"), (picture, "selected_index")) in _links()
    assert [page.value for page in picture.children] == frames
    assert len({id(page.layout) for page in picture.children}) == 1       # one layout model, not one per frame
    assert box.children == (box.children[0], picture)                    # no note needed


def test_kernel_picture_comes_with_a_note(monkeypatch):
    monkeypatch.setattr(frame_widgets, "browser_swaps_frames", lambda: False)      # as on ipywidgets 7
    frames = png_frames(_frames(2), scale=1)
    box, slider, picture = frame_slider(frames, [3, 8])
    assert isinstance(picture, widgets.Image)
    assert box.children[-1].value == KERNEL_NOTE
    slider.value = 8
    assert picture.value == frames[1]


def test_the_box_is_marked_for_the_browser_test_and_reads_well_as_text():
    box, _, _ = frame_slider(png_frames(_frames(2), scale=1), [0, 299])
    assert "frame-slider" in box._dom_classes
    assert repr(box) == "[a slider over t = 0..299, 2 frames: run the notebook to use it]"


def test_frame_slider_checks_its_arguments():
    frames = png_frames(_frames(2), scale=1)
    with pytest.raises(ValueError):
        frame_slider(frames, [0])
    with pytest.raises(ValueError):
        frame_slider(frames, [3, 1])


def test_png_bytes_matches_png_frames():
    x = _frames(2)
    assert png_bytes(x[1], scale=3) == png_frames(x, scale=3)[1]


def test_colour_frames_show_in_colour_on_the_slider(swap):
    frames = torch.full((3, 3, 4, 5), -1.0)
    for i in range(3):
        frames[i, i] = 1.0                        # red, green, blue frames
    box, slider, _ = frame_slider(png_frames(frames, scale=2), [0, 10, 20])
    for i, rgb in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        slider.value = 10 * i
        img = _decode(_shown(box))
        assert img.mode == "RGB" and img.size == (10, 8) and img.getpixel((9, 7)) == rgb


def test_png_bytes_of_a_colour_image_keeps_every_channel():
    image = torch.stack([torch.linspace(-1, 1, 6).expand(4, 6), torch.zeros(4, 6), torch.ones(4, 6)])
    img = _decode(png_bytes(image, scale=1))
    assert img.mode == "RGB" and img.size == (6, 4)
    assert img.getpixel((0, 0)) == (0, 128, 255) and img.getpixel((5, 3)) == (255, 128, 255)
