"""Optimizers: nyang.optim walking a 2-element parameter over a 2-D loss surface."""
import numpy as np
import pandas as pd
import streamlit as st

import nyang
from nyang import nn, optim
from nyangdocs.figures import COLORS, figure

# name: (f(x, y) on Tensors, start, minima, view (x0, x1, y0, y1), default lr per optimizer)
SURFACES = {
    "Elongated bowl": (lambda x, y: 0.01 * x ** 2 + y ** 2, (-4.5, 1.5), [(0.0, 0.0)], (-5, 5, -2.5, 2.5),
                       {"SGD": 0.9, "Momentum": 0.1, "Nesterov": 0.1, "Adagrad": 0.5, "RMSprop": 0.05,
                        "Adam": 0.1, "AdamW": 0.1}),
    "Rosenbrock": (lambda x, y: (1 - x) ** 2 + 100 * (y - x ** 2) ** 2, (-1.5, 2.0), [(1.0, 1.0)], (-2, 2, -1, 3),
                   {"SGD": 1e-3, "Momentum": 1e-3, "Nesterov": 1e-3, "Adagrad": 0.5, "RMSprop": 0.01,
                    "Adam": 0.1, "AdamW": 0.1}),
    "Himmelblau": (lambda x, y: (x ** 2 + y - 11) ** 2 + (x + y ** 2 - 7) ** 2, (-0.5, -0.5),
                   [(3.0, 2.0), (-2.805, 3.131), (-3.779, -3.283), (3.584, -1.848)], (-5, 5, -5, 5),
                   {"SGD": 0.01, "Momentum": 3e-3, "Nesterov": 3e-3, "Adagrad": 0.5, "RMSprop": 0.03,
                    "Adam": 0.1, "AdamW": 0.1}),
}
OPTIMIZERS = {
    "SGD": lambda p, lr, wd: optim.SGD(p, lr=lr),
    "Momentum": lambda p, lr, wd: optim.SGD(p, lr=lr, momentum=0.9),
    "Nesterov": lambda p, lr, wd: optim.SGD(p, lr=lr, momentum=0.9, nesterov=True),
    "Adagrad": lambda p, lr, wd: optim.Adagrad(p, lr=lr),
    "RMSprop": lambda p, lr, wd: optim.RMSprop(p, lr=lr),
    "Adam": lambda p, lr, wd: optim.Adam(p, lr=lr),
    "AdamW": lambda p, lr, wd: optim.AdamW(p, lr=lr, weight_decay=wd),
}
UPDATES = {
    "SGD": r"w \leftarrow w - \eta g",
    "Momentum": r"b \leftarrow \mu b + g,\quad w \leftarrow w - \eta b",
    "Nesterov": r"b \leftarrow \mu b + g,\quad w \leftarrow w - \eta (g + \mu b)",
    "Adagrad": r"s \leftarrow s + g^2,\quad w \leftarrow w - \eta\, g / (\sqrt{s} + \epsilon)",
    "RMSprop": r"v \leftarrow \alpha v + (1 - \alpha) g^2,\quad w \leftarrow w - \eta\, g / (\sqrt{v} + \epsilon)",
    "Adam": r"m \leftarrow \beta_1 m + (1 - \beta_1) g,\ v \leftarrow \beta_2 v + (1 - \beta_2) g^2,\ "
            r"w \leftarrow w - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)",
    "AdamW": r"\text{Adam, then } w \leftarrow w - \eta \lambda w \text{ (decoupled weight decay)}",
}


@st.cache_data
def trajectory(surface, name, lr, weight_decay, steps):
    """The points visited and the loss at each, until ``steps`` or divergence."""
    f, start = SURFACES[surface][:2]
    p = nn.Parameter(nyang.tensor(start))
    optimizer = OPTIMIZERS[name]([p], lr, weight_decay)
    points, losses = [p.detach().numpy().copy()], []
    with np.errstate(all="ignore"):
        for _ in range(steps):
            loss = f(p[0], p[1])
            losses.append(float(loss.item()))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            point = p.detach().numpy().copy()
            if not np.all(np.isfinite(point)) or np.abs(point).max() > 1e3:
                break
            points.append(point)
    return np.array(points), np.array(losses)


@st.cache_data
def surface_grid(surface, size=200):
    """x, y and f(x, y) on a grid over the surface's view, evaluated by nyang."""
    f, view = SURFACES[surface][0], SURFACES[surface][3]
    x, y = np.meshgrid(np.linspace(view[0], view[1], size), np.linspace(view[2], view[3], size))
    return x, y, f(nyang.tensor(x.astype(np.float32)), nyang.tensor(y.astype(np.float32))).numpy()


st.title("Optimizers")
st.markdown("Each optimizer below is the real `nyang.optim` class stepping a `Parameter` of two numbers, "
            "`loss = f(p[0], p[1])`, `loss.backward()`, `optimizer.step()`. Plain SGD zig-zags across a "
            "narrow valley; momentum builds up speed along it; the adaptive methods (Adagrad, RMSprop, Adam) "
            "divide each coordinate's step by the size of its recent gradients, so both axes move at "
            "similar speed.")
controls = st.columns([1, 2, 1, 1, 1])
surface = controls[0].selectbox("Loss surface", list(SURFACES))
chosen = controls[1].multiselect("Optimizers", list(OPTIMIZERS), default=["SGD", "Momentum", "Adam"])
scale = controls[2].select_slider("lr × default", [0.1, 0.3, 1.0, 3.0, 10.0], value=1.0,
                                  help="each optimizer has a default lr for each surface; this scales them all")
steps = controls[3].slider("Steps", 10, 500, 150, 10)
weight_decay = controls[4].slider("AdamW weight decay λ", 0.0, 1.0, 0.1, 0.05)
if not chosen:
    st.info("Pick at least one optimizer.")
    st.stop()

lrs = {name: SURFACES[surface][4][name] * scale for name in chosen}
paths = {name: trajectory(surface, name, lrs[name], weight_decay, steps) for name in chosen}
x, y, z = surface_grid(surface)
fig, (left, right) = figure(ncols=2, width=11, height=4.4)
left.contourf(x, y, np.log1p(z), levels=30, cmap="Greys", alpha=0.35)
left.contour(x, y, np.log1p(z), levels=15, colors="grey", linewidths=0.4, alpha=0.6)
left.scatter(*zip(*SURFACES[surface][2]), marker="*", s=140, color="gold", edgecolor="black", zorder=4,
             label="minimum")
rows = []
for color, (name, (points, losses)) in zip(COLORS, paths.items()):
    left.plot(points[:, 0], points[:, 1], "-o", markersize=2, linewidth=1.2, color=color, label=name)
    right.plot(np.arange(1, len(losses) + 1), losses, color=color, label=name)
    diverged = len(points) <= len(losses)
    rows.append({"optimizer": name, "lr": lrs[name], "final loss": losses[-1] if not diverged else np.inf,
                 "final x": points[-1, 0], "final y": points[-1, 1],
                 "status": f"diverged at step {len(points)}" if diverged else "ok"})
left.set(xlim=SURFACES[surface][3][:2], ylim=SURFACES[surface][3][2:], title=f"{surface}: trajectories",
         xlabel="p[0]", ylabel="p[1]")
left.legend(fontsize=8, loc="lower right")
right.set(yscale="log", xlabel="step", title="loss")
st.pyplot(fig)
st.dataframe(pd.DataFrame(rows).style.format({"lr": "{:g}", "final loss": "{:.3g}", "final x": "{:.4f}",
                                              "final y": "{:.4f}"}), hide_index=True)
for name in chosen:
    st.latex(rf"\text{{{name}}}:\quad " + UPDATES[name])
st.caption("g is the gradient, η the learning rate; the contour shading is log(1 + f).")
