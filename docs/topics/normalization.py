"""Normalization: which elements BatchNorm, LayerNorm, InstanceNorm and GroupNorm average over."""
import numpy as np
import pandas as pd
import streamlit as st
from matplotlib import colormaps
from matplotlib.colors import ListedColormap

import nyang
from nyang import nn
from nyangdocs.figures import figure

H = W = 4


def layers(channels, groups):
    """name: (nyang layer without affine parameters, the axes it averages over, group id of each (n, c))."""
    return {
        "BatchNorm2d": (nn.BatchNorm2d(channels, affine=False), "(N, H, W) per channel",
                        lambda n, c: c),
        "LayerNorm": (nn.LayerNorm([channels, H, W], elementwise_affine=False), "(C, H, W) per sample",
                      lambda n, c: n),
        "InstanceNorm2d": (nn.InstanceNorm2d(channels), "(H, W) per sample and channel",
                           lambda n, c: n * channels + c),
        "GroupNorm": (nn.GroupNorm(groups, channels, affine=False), f"(C/G = {channels // groups}, H, W) per sample "
                      "and group", lambda n, c: n * groups + c // (channels // groups)),
    }


@st.cache_data
def normalize(batch, channels, groups, seed):
    """The input (N, C, H, W), with offsets per sample and per channel, and each layer's output (train mode)."""
    generator = nyang.Generator("cpu").manual_seed(seed)
    x = nyang.randn(batch, channels, H, W, generator=generator)
    x = x + 3 * nyang.randn(1, channels, 1, 1, generator=generator) + 2 * nyang.randn(batch, 1, 1, 1,
                                                                                          generator=generator)
    with nyang.no_grad():
        return x.numpy(), {name: layer(x).numpy() for name, (layer, _, _) in layers(channels, groups).items()}


st.title("Normalization")
st.markdown("All four layers compute the same thing, **(x − mean) / √(var + ε)** (then an optional learned scale "
            "and shift), and differ only in *which* elements share one mean and variance. For an input of shape "
            "(N, C, H, W):")
st.latex(r"\hat x = \frac{x - \mu_S}{\sqrt{\sigma_S^2 + \epsilon}},\quad "
         r"\mu_S = \frac{1}{|S|}\sum_{i \in S} x_i,\quad \sigma^2_S = \frac{1}{|S|}\sum_{i \in S} (x_i - \mu_S)^2,"
         r"\quad y = \gamma \hat x + \beta")
controls = st.columns(4)
batch = controls[0].slider("Batch N", 2, 8, 4)
channels = controls[1].select_slider("Channels C", [2, 4, 6, 8, 12], value=6)
groups = controls[2].select_slider("GroupNorm groups G", [g for g in (1, 2, 3, 4, 6, 12) if channels % g == 0],
                                   value=2 if channels % 2 == 0 else 1)
seed = controls[3].number_input("Seed", 0, 1000, 0)

x, outputs = normalize(batch, channels, groups, int(seed))
specs = layers(channels, groups)
st.subheader("Which elements share statistics")
st.caption(f"Each cell is one (sample n, channel c) pair, standing for its H × W = {H * W} values. Cells of "
           "the same colour are normalized together.")
palette = ListedColormap(colormaps["tab20"].colors + colormaps["tab20b"].colors)
fig, axes = figure(ncols=4, width=11, height=2.2 + 0.2 * channels)
for ax, (name, (_, over, group)) in zip(axes, specs.items()):
    ids = np.array([[group(n, c) for n in range(batch)] for c in range(channels)])
    ax.imshow(ids % palette.N, cmap=palette, vmin=0, vmax=palette.N - 1)
    ax.set_xticks(np.arange(batch + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(channels + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.grid(which="major", visible=False)
    ax.tick_params(which="both", length=0)
    ax.set(xticks=range(batch), yticks=range(channels), xlabel="sample n", ylabel="channel c",
           title=f"{name}\nover {over}")
    ax.title.set_fontsize(9)
st.pyplot(fig)

st.subheader("What the nyang layers do to the mean of each (n, c)")
st.caption("The mean over H × W of each (sample, channel) before and after each layer (in training mode, no "
           "affine part). InstanceNorm zeroes every cell, BatchNorm every row on average, LayerNorm every column, "
           "GroupNorm every group of rows within a column.")
panels = {"input": x, **outputs}
fig, axes = figure(ncols=5, width=12, height=2.2 + 0.2 * channels)
for ax, (name, value) in zip(axes, panels.items()):
    means = value.mean(axis=(2, 3)).T
    limit = max(np.abs(means).max(), 1e-3) if name == "input" else 1.5
    ax.imshow(means, cmap="RdBu_r", vmin=-limit, vmax=limit)
    if batch * channels <= 48:
        for (c, n), m in np.ndenumerate(means):
            ax.text(n, c, f"{m:+.1f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(m) > 0.6 * limit else "black")
    ax.grid(visible=False)
    ax.set(xticks=range(batch), yticks=range(channels), xlabel="sample n", ylabel="channel c", title=name)
    ax.title.set_fontsize(9)
st.pyplot(fig)

rows = []
for name, (_, over, group) in specs.items():
    out = outputs[name]
    ids = np.array([[group(n, c) for c in range(channels)] for n in range(batch)])
    stats = [(out[ids == g].mean(), out[ids == g].std()) for g in np.unique(ids)]
    rows.append({"layer": name, "one mean and variance per": over, "groups": len(stats),
                 "largest |mean| of a group": max(abs(m) for m, _ in stats),
                 "std of each group (min–max)": f"{min(s for _, s in stats):.4f} – {max(s for _, s in stats):.4f}"})
st.dataframe(pd.DataFrame(rows), hide_index=True)
