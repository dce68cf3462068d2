"""Figures with titles, labels and fixed sizes; images shown right for 1 and 3 channels."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torchvision


def to_display(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] image(s) -> numpy in [0, 1] for ``imshow``.

    (C, H, W) -> (H, W) for one channel (shown with a gray colormap, not as a
    fake RGB transpose) or (H, W, 3) for three channels.
    """
    if images.ndim != 3 or images.shape[0] not in (1, 3):
        raise ValueError(f"expected one image of shape (1|3, H, W), got {tuple(images.shape)}")
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) / 2)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1] -> one (C, H', W') grid image in [-1, 1] (padding is black)."""
    grid = torchvision.utils.make_grid((images.detach().cpu().float() + 1) / 2, nrow=nrow,
                                       padding=padding, pad_value=0.0)
    grid = grid * 2 - 1
    return grid[:1] if images.shape[1] == 1 else grid


def show_images(images: torch.Tensor, nrow: int = 8, title: str | None = None,
                ax: plt.Axes | None = None, size: float = 4.0) -> plt.Axes:
    """Show a batch (N, C, H, W) in [-1, 1] as one grid. Returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(size, size * _rows(len(images), nrow) / min(nrow, len(images))))
    ax.imshow(to_display(image_grid(images, nrow)), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def _rows(n: int, nrow: int) -> int:
    return -(-n // nrow)


def show_strip(frames: torch.Tensor, captions: Sequence[str], title: str | None = None,
               size: float = 1.3) -> plt.Figure:
    """A row of single images (F, C, H, W) with a caption under each."""
    fig, axes = plt.subplots(1, len(frames), figsize=(size * len(frames), size * 1.25))
    for ax, frame, caption in zip(np.atleast_1d(axes), frames, captions):
        ax.imshow(to_display(frame), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(caption, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_schedules(curves: dict[str, dict[str, torch.Tensor]], size=(12, 3.2)) -> plt.Figure:
    """Plot beta, alpha_bar and log10 SNR against t for several named schedules.

    curves: {name: {"betas": (T,), "alpha_bar": (T,), "snr": (T,)}}.
    """
    fig, axes = plt.subplots(1, 3, figsize=size)
    for name, c in curves.items():
        t = np.arange(len(c["betas"]))
        axes[0].plot(t, c["betas"].numpy(), label=name)
        axes[1].plot(t, c["alpha_bar"].numpy(), label=name)
        axes[2].plot(t, np.log10(c["snr"].numpy()), label=name)
    for ax, what in zip(axes, ["beta_t", "alpha_bar_t", "log10 SNR_t"]):
        ax.set_xlabel("timestep t")
        ax.set_title(what)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_losses(losses: Sequence[float], window: int = 50, title: str = "training loss",
                size=(6, 3.5), ylabel: str = "noise-prediction MSE") -> plt.Figure:
    """Per-step loss (faint) and its moving average over ``window`` steps, log scale; ``ylabel`` names the loss."""
    fig, ax = plt.subplots(figsize=size)
    y = np.asarray(losses, dtype=float)
    ax.plot(np.arange(1, len(y) + 1), y, alpha=0.25, label="per step")
    if len(y) >= window:
        smooth = np.convolve(y, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(window, len(y) + 1), smooth, label=f"mean of {window}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    return fig


def show_image_table(images: torch.Tensor, col_labels: Sequence[str],
                     row_labels: Sequence[str] | None = None, title: str | None = None,
                     size: float = 1.1) -> plt.Figure:
    """A table of images (R, K, C, H, W) in [-1, 1]: R rows, K columns, a label over each column."""
    rows, cols = images.shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols + (0.6 if row_labels else 0),
                                                  size * rows + 0.5), squeeze=False)
    for r in range(rows):
        for k in range(cols):
            ax = axes[r, k]
            ax.imshow(to_display(images[r, k]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(col_labels[k], fontsize=8)
        if row_labels:
            axes[r, 0].set_ylabel(row_labels[r], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_heatmap(values: torch.Tensor, xlabel: str, ylabel: str, title: str,
                 size=(7, 3.2), cmap: str = "RdBu_r") -> plt.Figure:
    """A matrix (R, C) as a heat map with a colour bar; rows run up the y axis from 0."""
    fig, ax = plt.subplots(figsize=size)
    im = ax.imshow(np.asarray(values.detach().cpu().float()), aspect="auto", origin="lower",
                   cmap=cmap, interpolation="nearest")
    fig.colorbar(im, ax=ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_paths_2d(panels: Sequence[torch.Tensor], titles: Sequence[str], ncols: int = 4,
                  reference: torch.Tensor | None = None, title: str | None = None, lim: float = 2.5,
                  size: float = 2.4) -> plt.Figure:
    """One square panel per entry of ``panels``, each (F, N, 2): N points over F frames in the plane.

    With F > 1 each point's path is a thin line from its first frame (grey dot) to its last (coloured
    dot); with F = 1 the points alone. ``reference`` (M, 2), e.g. the data's modes, is marked with
    crosses in every panel. Axes run from -lim to lim.
    """
    if len(panels) != len(titles):
        raise ValueError(f"got {len(panels)} panels but {len(titles)} titles")
    for p in panels:
        if p.ndim != 3 or p.shape[-1] != 2:
            raise ValueError(f"each panel must be (frames, points, 2), got {tuple(p.shape)}")
    rows = _rows(len(panels), ncols)
    cols = min(ncols, len(panels))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows + (0.3 if title else 0)), squeeze=False)
    for ax, frames, name in zip(axes.flat, panels, titles):
        xy = frames.detach().cpu().float().numpy()
        if len(xy) > 1:
            ax.plot(xy[:, :, 0], xy[:, :, 1], color="tab:blue", alpha=0.35, linewidth=0.7)
            ax.scatter(xy[0, :, 0], xy[0, :, 1], s=4, color="0.6")
        ax.scatter(xy[-1, :, 0], xy[-1, :, 1], s=4, color="tab:orange")
        if reference is not None:
            ax.scatter(reference[:, 0], reference[:, 1], marker="x", s=30, color="black", linewidths=1)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
        ax.set_title(name, fontsize=9)
    for ax in axes.flat[len(panels):]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
