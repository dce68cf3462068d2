"""Figures: every image-showing function draws (N, 3, H, W) as RGB and (N, 1, H, W) as grey."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from helpers.plotting import (image_grid, plot_heatmap, plot_losses, plot_paths_2d, plot_schedules, show_image_table,
                              show_images, show_strip, to_display)

RED, GREEN, BLUE = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def solid(colours, size: int = 6) -> torch.Tensor:
    """Images (N, 3, size, size) in [-1, 1], each one solid colour given in [0, 1]."""
    return (torch.tensor(colours)[:, :, None, None] * 2 - 1).expand(-1, -1, size, size).clone()


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def shown(ax) -> np.ndarray:
    """The array the axes' (only) image draws."""
    (image,) = ax.get_images()
    return np.asarray(image.get_array())


def test_to_display_keeps_colour_and_grey_apart():
    rgb = to_display(solid([GREEN])[0])
    assert rgb.shape == (6, 6, 3) and rgb[2, 3].tolist() == [0.0, 1.0, 0.0]
    grey = to_display(torch.zeros(1, 5, 4))
    assert grey.shape == (5, 4) and grey[0, 0] == 0.5
    with pytest.raises(ValueError, match=r"\(1\|3, H, W\)"):
        to_display(torch.zeros(2, 5, 5))


def test_image_grid_is_rgb_for_colour_and_one_channel_for_grey():
    grid = image_grid(solid([RED, GREEN, BLUE]), nrow=3, padding=2)
    assert grid.shape == (3, 6 + 4, 3 * 6 + 4 * 2)
    assert grid[:, 2, 2].tolist() == [1.0, -1.0, -1.0]                # first tile red
    assert grid[:, 2, 2 + 8 * 2].tolist() == [-1.0, -1.0, 1.0]        # third tile blue
    assert grid[:, 0, 0].tolist() == [-1.0, -1.0, -1.0]               # black padding
    assert image_grid(torch.zeros(4, 1, 5, 5), nrow=2).shape[0] == 1


def test_show_images_draws_colour_as_rgb_and_grey_as_grey():
    ax = show_images(solid([RED, BLUE] * 4), nrow=4, title="colour")
    drawn = shown(ax)
    assert drawn.ndim == 3 and drawn.shape[2] == 3 and ax.get_title() == "colour"
    assert drawn[3, 3].tolist() == [1.0, 0.0, 0.0] and drawn[3, 3 + 8].tolist() == [0.0, 0.0, 1.0]
    grey = shown(show_images(torch.zeros(4, 1, 5, 5), nrow=2))
    assert grey.ndim == 2


def test_show_strip_draws_each_colour_frame_in_colour():
    fig = show_strip(solid([RED, GREEN, BLUE]), ["t=0", "t=1", "t=2"], title="strip")
    axes = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in axes] == ["t=0", "t=1", "t=2"]
    assert [shown(ax)[0, 0].tolist() for ax in axes] == [list(RED), list(GREEN), list(BLUE)]
    assert shown(show_strip(torch.zeros(2, 1, 4, 4), ["a", "b"]).axes[0]).ndim == 2


def test_show_image_table_draws_colour_cells_under_their_labels():
    table = torch.stack([solid([RED, GREEN]), solid([BLUE, RED])])        # (2 rows, 2 columns, 3, 6, 6)
    fig = show_image_table(table, ["red disc", "green square"], row_labels=["a", "b"], title="classes")
    axes = fig.axes
    assert len(axes) == 4 and [ax.get_title() for ax in axes[:2]] == ["red disc", "green square"]
    assert [shown(ax)[0, 0].tolist() for ax in axes] == [list(RED), list(GREEN), list(BLUE), list(RED)]
    assert axes[2].get_ylabel() == "b"
    grey = show_image_table(torch.zeros(1, 2, 1, 4, 4), ["x", "y"])
    assert shown(grey.axes[0]).ndim == 2


def test_the_other_figures_still_draw():
    curves = {"linear": {k: torch.linspace(0.1, 1, 10) for k in ("betas", "alpha_bar", "snr")}}
    assert len(plot_schedules(curves).axes) == 3
    assert plot_losses([1.0, 0.5, 0.2], window=2).axes[0].get_yscale() == "log"
    assert len(plot_heatmap(torch.rand(3, 4), "x", "y", "map").axes) == 2     # the map and its colour bar


def test_plot_paths_2d_draws_each_path_from_its_start_to_its_end():
    frames = torch.tensor([[[0.0, 0.0], [1.0, 1.0]], [[0.5, 0.0], [1.0, 0.0]], [[1.0, 0.0], [1.0, -1.0]]])  # (3, 2, 2)
    fig = plot_paths_2d([frames, frames[-1:]], ["paths", "ends"], ncols=4, reference=torch.zeros(1, 2))
    left, right = fig.axes
    assert len(fig.axes) == 2 and left.get_title() == "paths" and right.get_title() == "ends"
    assert len(left.get_lines()) == 2 and len(right.get_lines()) == 0      # one line per point, none for one frame
    assert np.allclose(left.get_lines()[1].get_xydata(), frames[:, 1].numpy())
    ends = right.collections[0].get_offsets()
    assert np.allclose(ends, frames[-1].numpy())
    with pytest.raises(ValueError, match="each panel must be"):
        plot_paths_2d([torch.zeros(3, 2)], ["flat"])
    with pytest.raises(ValueError, match="2 panels but 1 titles"):
        plot_paths_2d([frames, frames], ["one"])
