"""Initialization: how the activations of a 10-layer net grow, shrink or stay put."""
import math

import numpy as np
import pandas as pd
import streamlit as st

import nyang
from nyang import nn
from nyang.nn import init
from nyangdocs.figures import COLORS, figure

DEPTH = 10
SCHEMES = {
    "Xavier normal": lambda w, act, g: init.xavier_normal_(w, generator=g),
    "Kaiming normal": lambda w, act, g: init.kaiming_normal_(w, nonlinearity=act, generator=g),
    "PyTorch default": lambda w, act, g: init.kaiming_uniform_(w, a=math.sqrt(5), generator=g),
    "N(0, 0.01²)": lambda w, act, g: init.normal_(w, 0.0, 0.01, generator=g),
    "N(0, 1)": lambda w, act, g: init.normal_(w, 0.0, 1.0, generator=g),
}
ACTIVATIONS = {"tanh": nyang.tanh, "relu": nn.functional.relu, "linear": lambda t: t}


@st.cache_data
def activations(scheme, activation, width, seed, batch=256):
    """The outputs of each of the DEPTH ``Linear(width, width) → activation`` layers
    for a batch of N(0, 1) inputs: an array (DEPTH, batch * width)."""
    generator = nyang.Generator("cpu").manual_seed(seed)
    h = nyang.randn(batch, width, generator=generator)
    outputs = []
    with nyang.no_grad():
        for _ in range(DEPTH):
            layer = nn.Linear(width, width, bias=False)
            SCHEMES[scheme](layer.weight, activation, generator)
            h = ACTIVATIONS[activation](layer(h))
            outputs.append(h.numpy().ravel())
    return np.stack(outputs)


st.title("Initialization")
st.markdown("Each layer multiplies the variance of its input by `fan_in · Var(w)` (times what the activation "
            "keeps of it). Below 1 the signal fades layer after layer, above 1 it explodes, and the gradients do "
            "the same on the way back. **Xavier** (Glorot, gain 1) keeps the variance of linear layers; tanh "
            "shrinks its inputs a little, so with tanh the signal slowly fades. **Kaiming** (He) multiplies the "
            "variance by the activation's gain², `nn.init.calculate_gain(activation)`: (5/3)² for tanh, 2 for "
            "ReLU, which zeroes half of its inputs.")
st.latex(r"\text{Xavier: } \operatorname{Var}(w) = \frac{2}{\text{fan\_in} + \text{fan\_out}}"
         r"\qquad \text{Kaiming: } \operatorname{Var}(w) = \frac{\text{gain}^2}{\text{fan\_in}}"
         r"\qquad \operatorname{Var}(h_{l}) \approx \text{fan\_in} \cdot \operatorname{Var}(w)"
         r"\cdot \operatorname{Var}(h_{l-1})")
controls = st.columns([2, 1, 1, 1])
chosen = controls[0].multiselect("Schemes", list(SCHEMES), default=["Xavier normal", "Kaiming normal"])
activation = controls[1].selectbox("Activation", list(ACTIVATIONS))
width = controls[2].select_slider("Width", [32, 64, 128, 256, 512], value=256)
seed = controls[3].number_input("Seed", 0, 1000, 0)
if not chosen:
    st.info("Pick at least one scheme.")
    st.stop()

outputs = {name: activations(name, activation, width, int(seed)) for name in chosen}
fig, ax = figure(width=10, height=3.0)
for color, (name, h) in zip(COLORS, outputs.items()):
    ax.plot(range(1, DEPTH + 1), h.std(axis=1), marker="o", color=color, label=name)
ax.set(yscale="log", xlabel="layer", ylabel="std of the activations", xticks=range(1, DEPTH + 1),
       title=f"{DEPTH} × (Linear({width}, {width}) → {activation}), inputs N(0, 1)")
ax.legend(fontsize=8)
st.pyplot(fig)

fig, axes = figure(ncols=DEPTH, nrows=len(chosen), width=10, height=1.1 * len(chosen) + 0.5, squeeze=False,
                   layout=None)
fig.subplots_adjust(left=0.07, right=0.99, bottom=0.5 / fig.get_figheight(), top=1 - 0.35 / fig.get_figheight(),
                    wspace=0.15, hspace=0.35)
for row, (name, h) in enumerate(outputs.items()):
    for layer in range(DEPTH):
        ax = axes[row][layer]
        ax.stairs(*np.histogram(h[layer], bins=40), fill=True, color=COLORS[row])
        ax.set_yticks([])
        ax.tick_params(labelsize=6)
        if row == 0:
            ax.set_title(f"layer {layer + 1}", fontsize=8)
        if layer == 0:
            ax.set_ylabel(name, fontsize=8)
st.pyplot(fig)
st.caption("Histograms of each layer's outputs, one row per scheme; each panel has its own x range "
           "(the curve above gives the scale).")
stds = pd.DataFrame({name: h.std(axis=1) for name, h in outputs.items()}, index=range(1, DEPTH + 1))
st.markdown("**Standard deviation of each layer's outputs**")
st.dataframe(stds.T.style.format("{:.3g}"))
