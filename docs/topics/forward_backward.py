"""Forward and backward: the chain rule through Linear → ReLU → Linear, by nyang autograd."""
import numpy as np
import pandas as pd
import streamlit as st

import nyang
from nyang import nn
from nyangdocs.figures import figure


def run(x1, x2, target, seed):
    """Forward and backward of one sample; every value and gradient as NumPy."""
    generator = nyang.Generator("cpu").manual_seed(seed)
    first, second = nn.Linear(2, 3, generator=generator), nn.Linear(3, 1, generator=generator)
    x = nyang.tensor([[x1, x2]])
    h = first(x)
    a = h.relu()
    y_hat = second(a)
    for t in (h, a, y_hat):
        t.retain_grad()
    loss = 0.5 * ((y_hat - target) ** 2).sum()
    loss.backward()
    values = {"x": x, "h": h, "a": a, "y_hat": y_hat, "W1": first.weight, "b1": first.bias, "W2": second.weight}
    out = {k: v.detach().numpy()[0] if k in ("x", "h", "a", "y_hat") else v.detach().numpy()
           for k, v in values.items()}
    grads = {"h": h.grad, "a": a.grad, "y_hat": y_hat.grad, "W1": first.weight.grad, "b1": first.bias.grad,
             "W2": second.weight.grad, "b2": second.bias.grad}
    out.update({f"d{k}": g.numpy()[0] if k in ("h", "a", "y_hat") else g.numpy() for k, g in grads.items()})
    out["loss"] = float(loss.item())
    return out


def by_hand(v, target):
    """The same gradients from the chain rule, written out with NumPy."""
    d_y = v["y_hat"] - target
    d_a = d_y @ v["W2"]
    d_h = d_a * (v["h"] > 0)
    return {"dy_hat": d_y, "dW2": np.outer(d_y, v["a"]), "da": d_a, "dh": d_h, "dW1": np.outer(d_h, v["x"]),
            "db1": d_h}


def draw(v):
    """The network: node values (black) and their gradients (red); edge width |w|, colour ∂L/∂w."""
    fig, ax = figure(width=7.0, height=4.2)
    ax.set_axis_off()
    ax.grid(visible=False)
    layers = [("x", v["x"], None), ("h", v["h"], v["dh"]), ("a", v["a"], v["da"]), ("ŷ", v["y_hat"], v["dy_hat"])]
    position = {(name, i): (col, 1.1 * ((len(vals) - 1) / 2 - i)) for col, (name, vals, _) in enumerate(layers)
                for i in range(len(vals))}
    scale = max(np.abs(v["dW1"]).max(), np.abs(v["dW2"]).max(), 1e-12)
    for src, dst, weight, grad in (("x", "h", v["W1"], v["dW1"]), ("a", "ŷ", v["W2"], v["dW2"])):
        for j in range(weight.shape[0]):
            for i in range(weight.shape[1]):
                (x0, y0), (x1, y1) = position[(src, i)], position[(dst, j)]
                color = "#C44E52" if grad[j, i] > 0 else "#4C72B0"
                ax.plot([x0, x1], [y0, y1], color=color, alpha=0.15 + 0.85 * min(abs(float(grad[j, i])) / scale, 1.0),
                        linewidth=0.5 + 3 * abs(weight[j, i]), zorder=1)
    for i in range(3):
        (x0, y0), (x1, y1) = position[("h", i)], position[("a", i)]
        ax.annotate("", (x1 - 0.2, y1), (x0 + 0.2, y0), arrowprops={"arrowstyle": "->", "color": "grey"})
    for name, vals, grads in layers:
        for i, value in enumerate(vals):
            px, py = position[(name, i)]
            ax.scatter([px], [py], s=1700, color="white", edgecolor="black", zorder=2)
            ax.text(px, py, f"{name}{i + 1 if len(vals) > 1 else ''}\n{value + 0.0:+.2f}", ha="center", va="center",
                    fontsize=8, zorder=3)
            if grads is not None:
                ax.text(px, py - 0.36, f"{grads[i] + 0.0:+.3f}", ha="center", va="center", fontsize=8,
                        color="#C44E52", zorder=3)
    for col, label in enumerate(("input x", "Linear(2, 3)", "ReLU", "Linear(3, 1)")):
        ax.text(col, 1.75, label, ha="center", fontsize=9, color="grey")
    ax.set_xlim(-0.4, 3.4)
    ax.set_ylim(-1.75, 1.95)
    return fig


def text(array):
    """An array as short text, without negative zeros."""
    return np.array2string(np.round(array, 3) + 0.0, precision=3, suppress_small=True)


st.title("Forward and backward")
st.markdown("A network is a chain of functions. The **forward** pass computes each value from the one before; "
            "the **backward** pass (`loss.backward()`) applies the chain rule from the loss back to every "
            "weight, multiplying the local derivatives along the way. Here is one sample through "
            "`Linear(2, 3) → ReLU → Linear(3, 1)` with a squared-error loss.")
st.latex(r"h = W_1 x + b_1,\quad a = \operatorname{relu}(h),\quad \hat y = W_2 a + b_2,"
         r"\quad L = \tfrac12 (\hat y - y)^2")
st.latex(r"\frac{\partial L}{\partial \hat y} = \hat y - y,\quad"
             r"\frac{\partial L}{\partial a} = W_2^\top \frac{\partial L}{\partial \hat y},\quad"
             r"\frac{\partial L}{\partial h} = \frac{\partial L}{\partial a} \odot \mathbb{1}[h > 0],\quad"
             r"\frac{\partial L}{\partial W_1} = \frac{\partial L}{\partial h}\, x^\top")

controls = st.columns(4)
x1 = controls[0].slider("x₁", -2.0, 2.0, 1.0, 0.1)
x2 = controls[1].slider("x₂", -2.0, 2.0, -0.5, 0.1)
target = controls[2].slider("target y", -2.0, 2.0, 1.0, 0.1)
seed = controls[3].number_input("weight seed", 0, 1000, 1)

values = run(x1, x2, target, int(seed))
hand = by_hand(values, target)
left, right = st.columns([3, 2])
with left:
    st.pyplot(draw(values))
with right:
    st.metric("loss L", f"{values['loss']:.4f}")
    st.markdown("Black: the values of the forward pass. Red: ∂L/∂(that value), filled in by `loss.backward()`. "
                "Edges: width |w|; colour the sign of ∂L/∂w (red +, blue −), opacity its size. A hidden unit "
                "with h ≤ 0 passes no gradient back: ReLU's derivative there is 0, and so is every ∂L/∂w "
                "into it.")
    st.code("h = first(x)\na = h.relu()\ny_hat = second(a)\n"
            "loss = 0.5 * ((y_hat - y) ** 2).sum()\n"
            "loss.backward()  # fills every .grad\n"
            "first.weight.grad  # ∂L/∂W₁, (3, 2)", language="python")
rows = [(name, text(values[key]), text(hand[key]), f"{np.abs(values[key] - hand[key]).max():.1e}")
        for name, key in (("∂L/∂ŷ", "dy_hat"), ("∂L/∂a", "da"), ("∂L/∂h", "dh"), ("∂L/∂W₂", "dW2"),
                          ("∂L/∂W₁", "dW1"), ("∂L/∂b₁", "db1"))]
st.dataframe(pd.DataFrame(rows, columns=["gradient", "nyang autograd (.grad)", "chain rule by hand (NumPy)",
                                         "max |diff|"]), hide_index=True)
