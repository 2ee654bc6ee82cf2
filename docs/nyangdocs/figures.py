"""Matplotlib figures for the pages: one look for all of them, no pyplot global state."""
import numpy as np
from matplotlib.figure import Figure

COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974")


def figure(ncols=1, nrows=1, width=7.0, height=3.2, squeeze=True, layout="constrained", **subplot_kw):
    """A ``(Figure, axes)`` pair, by default with constrained layout (``layout=None`` is
    much faster for many small panels); ``axes`` is one Axes for a 1x1 grid, else an
    array of them (always a 2-D array with ``squeeze=False``)."""
    fig = Figure(figsize=(width, height), dpi=110, layout=layout)
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, subplot_kw=subplot_kw)
    for ax in np.atleast_1d(axes).ravel():
        ax.grid(alpha=0.25)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes


def image_grid(images, titles=None, ncols=8, size=1.0):
    """A Figure of (N, H, W) grey images in [0, 1], ``ncols`` per row, optionally titled."""
    count = len(images)
    nrows = -(-count // ncols)
    fig = Figure(figsize=(size * ncols, (size + (0.3 if titles else 0.0)) * nrows), dpi=110, layout="constrained")
    for k, image in enumerate(images):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        ax.imshow(image, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
        if titles:
            ax.set_title(titles[k], fontsize=9)
        ax.set_axis_off()
    return fig
