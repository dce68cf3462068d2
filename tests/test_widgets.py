"""Headless tests of the frame slider: the image shown is the frame precomputed for t."""
import io

import pytest
import torch
from PIL import Image as PILImage

from helpers.widgets import frame_slider, png_bytes, png_frames


def _frames(n: int, channels: int = 1, size: int = 8) -> torch.Tensor:
    """(n, channels, size, size) frames in [-1, 1], each a different flat gray level."""
    levels = torch.linspace(-1, 1, n)
    return levels[:, None, None, None].expand(n, channels, size, size).clone()


def _decode(png: bytes) -> PILImage.Image:
    img = PILImage.open(io.BytesIO(png))
    img.load()
    return img


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


def test_slider_shows_the_frame_of_its_value():
    values = list(range(0, 300, 10))
    frames = png_frames(_frames(len(values)), scale=2)
    assert len(set(frames)) == len(frames)        # every frame differs
    box, slider, image = frame_slider(frames, values)
    assert image.value == frames[0]
    slider.value = 150
    assert image.value == frames[values.index(150)]
    assert image.value != frames[values.index(140)]
    slider.value = 290
    assert image.value == frames[-1]
    assert (slider.min, slider.max, slider.step) == (0, 290, 10)


def test_play_button_drives_the_image():
    values = [0, 1, 2, 3]
    frames = png_frames(_frames(4), scale=1)
    box, slider, image = frame_slider(frames, values)
    play = box.children[0].children[0]
    play.value = 2                                  # what a tick of the Play button does
    assert slider.value == 2
    assert image.value == frames[2]


def test_slider_between_values_shows_the_frame_below():
    values = [0, 4, 10]
    frames = png_frames(_frames(3), scale=1)
    _, slider, image = frame_slider(frames, values)
    assert slider.step == 2
    slider.value = 8
    assert image.value == frames[1]


def test_frame_slider_checks_its_arguments():
    frames = png_frames(_frames(2), scale=1)
    with pytest.raises(ValueError):
        frame_slider(frames, [0])
    with pytest.raises(ValueError):
        frame_slider(frames, [3, 1])


def test_png_bytes_matches_png_frames():
    x = _frames(2)
    assert png_bytes(x[1], scale=3) == png_frames(x, scale=3)[1]
