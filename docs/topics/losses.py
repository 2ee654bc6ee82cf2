"""Losses: the value and the gradient (by nyang autograd) against the prediction."""
import numpy as np
import pandas as pd
import streamlit as st

import nyang
import nyang.nn.functional as F
from nyangdocs.autodiff import value_and_grad
from nyangdocs.figures import COLORS, figure


def _three_classes(z):
    """Logits (P, 3): ``z`` for the true class 0, 0 for the two others."""
    return nyang.cat([z.reshape(-1, 1), nyang.zeros(z.shape[0], 2)], dim=1)


# task: (x-axis label, x range, {loss: (fn(prediction, target, parameter),
#                                       parameter (name, low, high, default) or None, formula)})
TASKS = {
    "Regression": ("prediction ŷ", (-3.0, 3.0), {
        "MSELoss": (lambda p, t, a: F.mse_loss(p, t, reduction="none"), None, r"(\hat y - y)^2"),
        "L1Loss": (lambda p, t, a: F.l1_loss(p, t, reduction="none"), None, r"|\hat y - y|"),
        "SmoothL1Loss": (lambda p, t, a: F.smooth_l1_loss(p, t, reduction="none", beta=a), ("beta", 0.1, 3.0, 1.0),
                         r"\tfrac{0.5 (\hat y - y)^2}{\beta} \text{ if } |\hat y - y| < \beta "
                         r"\text{ else } |\hat y - y| - \tfrac{\beta}{2}"),
        "HuberLoss": (lambda p, t, a: F.huber_loss(p, t, reduction="none", delta=a), ("delta", 0.1, 3.0, 1.0),
                      r"\tfrac12 (\hat y - y)^2 \text{ if } |\hat y - y| < \delta "
                      r"\text{ else } \delta (|\hat y - y| - \tfrac{\delta}{2})"),
    }),
    "Binary classification": ("logit z (probability σ(z))", (-6.0, 6.0), {
        "BCEWithLogitsLoss": (lambda z, t, a: F.binary_cross_entropy_with_logits(z, t, reduction="none"), None,
                              r"-\bigl(y \log \sigma(z) + (1 - y) \log (1 - \sigma(z))\bigr)"),
        "BCELoss on σ(z)": (lambda z, t, a: F.binary_cross_entropy(z.sigmoid(), t, reduction="none"), None,
                            r"-\bigl(y \log p + (1 - y) \log (1 - p)\bigr),\ p = \sigma(z),"
                            r"\ \log \text{ clamped at } -100"),
        "sigmoid_focal_loss": (lambda z, t, a: F.sigmoid_focal_loss(z, t, alpha=None, gamma=a, reduction="none"),
                               ("gamma", 0.0, 5.0, 2.0), r"-(1 - p_t)^\gamma \log p_t"),
    }),
    "Multi-class (3 classes)": ("logit of the true class (the other two are 0)", (-6.0, 6.0), {
        "CrossEntropyLoss": (lambda z, t, a: F.cross_entropy(_three_classes(z), t, reduction="none",
                                                             label_smoothing=a),
                             ("label_smoothing", 0.0, 0.5, 0.0), r"-\log \operatorname{softmax}(z)_y"
                             r"\ \text{(label smoothing mixes in } \tfrac{\epsilon}{K} \text{ of every class)}"),
        "MultiMarginLoss": (lambda z, t, a: F.multi_margin_loss(_three_classes(z), t, margin=a, reduction="none"),
                            ("margin", 0.1, 3.0, 1.0), r"\tfrac1K \sum_{i \ne y} \max(0, m - z_y + z_i)"),
        "focal_loss (softmax)": (lambda z, t, a: F.focal_loss(_three_classes(z), t, gamma=a, reduction="none"),
                                 ("gamma", 0.0, 5.0, 2.0), r"-(1 - p_y)^\gamma \log p_y"),
    }),
}


@st.cache_data
def curve(task, name, points, target, parameter):
    """Loss per prediction and its derivative, ``x.grad`` after ``loss.sum().backward()``."""
    fn = TASKS[task][2][name][0]
    if task == "Multi-class (3 classes)":
        target_tensor = nyang.zeros(len(points), dtype=nyang.int64)
    else:
        target_tensor = nyang.full((len(points),), float(target))
    return value_and_grad(lambda x: fn(x, target_tensor, parameter), points)


st.title("Losses")
st.markdown("A loss turns a prediction into one number to minimize; what training actually feels is its "
            "**gradient**, the right panel (`x.grad` after `loss.sum().backward()` in nyang, one point per "
            "prediction). Compare how hard each loss pushes a prediction that is far off, and how gently one "
            "that is nearly right.")
top = st.columns([1, 2, 1], vertical_alignment="bottom")
task = top[0].selectbox("Task", list(TASKS))
xlabel, (low, high), losses = TASKS[task]
chosen = top[1].multiselect("Losses", list(losses), default=list(losses)[:2], key=f"losses:{task}")
if task == "Regression":
    target = top[2].slider("target y", -2.0, 2.0, 0.5, 0.1)
elif task == "Binary classification":
    target = top[2].radio("target y", [1, 0], horizontal=True)
else:
    target = 0
    top[2].markdown("target: class 0")
if not chosen:
    st.info("Pick at least one loss.")
    st.stop()

parameters = {}
needing = [name for name in chosen if losses[name][1] is not None]
for column, name in zip(st.columns(max(len(needing), 1)), needing):
    label, lo, hi, default = losses[name][1]
    parameters[name] = column.slider(f"{name}: {label}", lo, hi, default, 0.05, key=f"{name}:{label}")

x = np.linspace(low, high, 401)
fig, (left, right) = figure(ncols=2, width=11, height=3.6)
rows = []
for color, name in zip(COLORS, chosen):
    value, grad = curve(task, name, x, target, parameters.get(name))
    left.plot(x, value, color=color, label=name)
    right.plot(x, grad, color=color, label=name)
    at, d_at = curve(task, name, (low / 2, 0.0, high / 2), target, parameters.get(name))
    rows.append({"loss": name, **{f"value at {p:g}": v for p, v in zip((low / 2, 0, high / 2), at)},
                 **{f"gradient at {p:g}": g for p, g in zip((low / 2, 0, high / 2), d_at)}})
if task == "Regression":
    for ax in (left, right):
        ax.axvline(target, color="grey", linestyle=":", linewidth=1)
left.set(xlabel=xlabel, title="loss")
right.set(xlabel=xlabel, title="∂loss/∂prediction by autograd")
left.legend(fontsize=8)
st.pyplot(fig)
st.dataframe(pd.DataFrame(rows).round(4), hide_index=True)
for name in chosen:
    st.latex(rf"\text{{{name}}}:\quad " + losses[name][2])
