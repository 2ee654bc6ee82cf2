"""Activations and their derivatives; each derivative is nyang autograd's, not a formula."""
import numpy as np
import pandas as pd
import streamlit as st

import nyang
import nyang.nn.functional as F
from nyangdocs.autodiff import value_and_grad
from nyangdocs.figures import COLORS, figure

FORMULAS = {
    "relu": r"\operatorname{relu}(x) = \max(0, x)",
    "leaky_relu": r"\operatorname{leaky\_relu}(x) = \max(0, x) + s \min(0, x)",
    "elu": r"\operatorname{elu}(x) = x \text{ if } x > 0 \text{ else } \alpha (e^x - 1)",
    "selu": r"\operatorname{selu}(x) = \lambda\,(x \text{ if } x > 0 \text{ else } \alpha (e^x - 1)),"
            r"\ \lambda \approx 1.0507,\ \alpha \approx 1.6733",
    "gelu": r"\operatorname{gelu}(x) = x\,\Phi(x) = \tfrac{x}{2}\bigl(1 + \operatorname{erf}(x/\sqrt2)\bigr)",
    "gelu (tanh)": r"\operatorname{gelu}(x) \approx "
                   r"\tfrac{x}{2}\bigl(1 + \tanh(\sqrt{2/\pi}\,(x + 0.044715 x^3))\bigr)",
    "sigmoid": r"\sigma(x) = \frac{1}{1 + e^{-x}},\quad \sigma'(x) = \sigma(x)(1 - \sigma(x))",
    "tanh": r"\tanh(x) = \frac{e^x - e^{-x}}{e^x + e^{-x}},\quad \tanh'(x) = 1 - \tanh^2(x)",
}


def activation(name, slope, alpha):
    """The nyang function for ``name`` with the chosen parameters."""
    return {
        "relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, slope), "elu": lambda t: F.elu(t, alpha),
        "selu": F.selu, "gelu": F.gelu, "gelu (tanh)": lambda t: F.gelu(t, approximate="tanh"),
        "sigmoid": nyang.sigmoid, "tanh": nyang.tanh,
    }[name]


@st.cache_data
def evaluate(name, points, slope, alpha):
    """f(x) and f'(x) at ``points``; the derivative is x.grad after ``f(x).sum().backward()``."""
    return value_and_grad(activation(name, slope, alpha), points)


st.title("Activations")
st.markdown("Without a non-linearity between them, stacked Linear layers collapse into one. The derivative matters "
            "as much as the function: backward multiplies every gradient by it, so where it is 0 (ReLU for x < 0, "
            "the flat ends of sigmoid and tanh) no gradient gets through. The right panel is **not** a formula: "
            "it is `x.grad` after `f(x).sum().backward()`, nyang autograd at each point.")
chosen = st.multiselect("Activations", list(FORMULAS), default=["relu", "gelu", "tanh", "sigmoid"])
controls = st.columns(3)
low, high = controls[0].slider("x range", -8.0, 8.0, (-4.0, 4.0), 0.5)
slope = controls[1].slider("leaky_relu slope s", 0.0, 0.5, 0.1, 0.01)
alpha = controls[2].slider("elu α", 0.1, 2.0, 1.0, 0.1)

if not chosen or low >= high:
    st.info("Pick at least one activation and a non-empty range.")
    st.stop()
fig, (left, right) = figure(ncols=2, width=10, height=3.6)
table = []
x = np.linspace(low, high, 401)
for color, name in zip(COLORS, chosen):
    y, dy = evaluate(name, x, slope, alpha)
    left.plot(x, y, color=color, label=name)
    right.plot(x, dy, color=color, label=name)
    at, d_at = evaluate(name, (-1.0, 0.0, 1.0), slope, alpha)
    table.append({"activation": name, **{f"f({v:g})": at[i] for i, v in enumerate((-1, 0, 1))},
                  **{f"f′({v:g})": d_at[i] for i, v in enumerate((-1, 0, 1))}})
left.set(title="f(x)", xlabel="x")
right.set(title="f′(x) by autograd", xlabel="x")
left.legend(fontsize=8)
st.pyplot(fig)
st.dataframe(pd.DataFrame(table).round(4), hide_index=True)
for name in chosen:
    st.latex(FORMULAS[name])
