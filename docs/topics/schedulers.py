"""Learning-rate schedulers: the lr (and momentum) of each nyang scheduler, step by step."""
import numpy as np
import streamlit as st

import nyang
from nyang import nn, optim
from nyang.optim import lr_scheduler as S
from nyangdocs.figures import figure

LAMBDAS = {
    "0.97 ** epoch": lambda e: 0.97 ** e,
    "1 / (1 + 0.05 epoch)": lambda e: 1.0 / (1.0 + 0.05 * e),
    "linear warm-up over 10, then 1": lambda e: min(1.0, (e + 1) / 10),
}

# name: (build(optimizer, args, steps),
#        [(argument, low, high, default, step) or (argument, [choices], default)], formula)
SCHEDULERS = {
    "StepLR": (lambda o, a, n: S.StepLR(o, a["step_size"], a["gamma"]),
               [("step_size", 1, 100, 30, 1), ("gamma", 0.05, 0.95, 0.5, 0.05)],
               r"\eta_t = \eta_0\, \gamma^{\lfloor t / \text{step\_size} \rfloor}"),
    "MultiStepLR": (lambda o, a, n: S.MultiStepLR(o, list(a["milestones"]), a["gamma"]),
                    [("milestones", 1, 300, (40, 70), 1), ("gamma", 0.05, 0.95, 0.3, 0.05)],
                    r"\eta_t = \eta_0\, \gamma^{\#\{m \in \text{milestones} : m \le t\}}"),
    "ExponentialLR": (lambda o, a, n: S.ExponentialLR(o, a["gamma"]), [("gamma", 0.8, 0.999, 0.97, 0.001)],
                      r"\eta_t = \eta_0\, \gamma^t"),
    "LinearLR": (lambda o, a, n: S.LinearLR(o, a["start_factor"], a["end_factor"], a["total_iters"]),
                 [("start_factor", 0.01, 1.0, 0.1, 0.01), ("end_factor", 0.01, 1.0, 1.0, 0.01),
                  ("total_iters", 1, 300, 20, 1)],
                 r"\eta_t = \eta_0 \bigl(s + (e - s) \min(t, T) / T\bigr)"),
    "CosineAnnealingLR": (lambda o, a, n: S.CosineAnnealingLR(o, a["T_max"], a["eta_min"]),
                          [("T_max", 1, 300, 100, 1), ("eta_min", 0.0, 0.05, 0.0, 0.001)],
                          r"\eta_t = \eta_{min} + \tfrac12 (\eta_0 - \eta_{min})"
                          r"\bigl(1 + \cos(\pi\, t / T_{max})\bigr)"),
    "OneCycleLR": (lambda o, a, n: S.OneCycleLR(o, a["max_lr"], total_steps=n, pct_start=a["pct_start"],
                                                anneal_strategy=a["anneal_strategy"], div_factor=a["div_factor"]),
                   [("max_lr", 0.01, 1.0, 0.5, 0.01), ("pct_start", 0.05, 0.95, 0.3, 0.05),
                    ("anneal_strategy", ["cos", "linear"], "cos"), ("div_factor", 2.0, 100.0, 25.0, 1.0)],
                   r"\eta: \tfrac{\eta_{max}}{\text{div}} \nearrow \eta_{max} \text{ (first pct\_start)} "
                   r"\searrow \tfrac{\eta_{max}}{\text{div} \cdot 10^4};\ \text{momentum moves the other way}"),
    "Warm-up + cosine (SequentialLR)": (
        lambda o, a, n: S.SequentialLR(o, [S.LinearLR(o, 0.01, 1.0, a["warmup"]),
                                           S.CosineAnnealingLR(o, max(n - a["warmup"], 1))], [a["warmup"]]),
        [("warmup", 1, 100, 10, 1)],
        r"\text{LinearLR from } 0.01\,\eta_0 \text{ for warmup steps, then CosineAnnealingLR}"),
    "ReduceLROnPlateau": (lambda o, a, n: S.ReduceLROnPlateau(o, factor=a["factor"], patience=a["patience"]),
                          [("factor", 0.05, 0.9, 0.5, 0.05), ("patience", 0, 30, 5, 1)],
                          r"\eta \leftarrow \text{factor} \cdot \eta \text{ after patience steps "
                          r"without a new best validation loss}"),
    "LambdaLR": (lambda o, a, n: S.LambdaLR(o, LAMBDAS[a["lr_lambda"]]),
                 [("lr_lambda", list(LAMBDAS), "0.97 ** epoch")],
                 r"\eta_t = \eta_0 \cdot \text{lr\_lambda}(t)"),
}


def plateau_loss(steps):
    """A made-up validation loss that falls, then flattens out, with a little noise."""
    t = np.arange(steps)
    return 0.5 + 0.5 * np.exp(-t / 15) + 0.01 * np.random.default_rng(0).standard_normal(steps)


@st.cache_data
def schedule(name, args, steps, base_lr):
    """lr and momentum used at each of ``steps`` steps by the scheduler ``name``."""
    parameter = nn.Parameter(nyang.zeros(1))
    optimizer = optim.SGD([parameter], lr=base_lr, momentum=0.9)
    scheduler = SCHEDULERS[name][0](optimizer, dict(args), steps)
    metric = plateau_loss(steps)
    lrs, momenta = [], []
    for t in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        if name == "ReduceLROnPlateau":
            scheduler.step(metric[t])
        else:
            scheduler.step()
    return np.array(lrs), np.array(momenta)


def argument_widgets(name, spec):
    """One widget per argument of scheduler ``name``; returns ``((argument, value), ...)``."""
    values = []
    for column, (argument, *rest) in zip(st.columns(max(len(spec), 2)), spec):
        key = f"{name}:{argument}"
        if isinstance(rest[0], list):
            values.append((argument, column.selectbox(argument, rest[0], index=rest[0].index(rest[1]), key=key)))
        else:
            values.append((argument, column.slider(argument, *rest, key=key)))
    return tuple(values)


def defaults(spec):
    """The default arguments of a scheduler, as ``argument_widgets`` returns them."""
    return tuple((argument, rest[1] if isinstance(rest[0], list) else rest[2]) for argument, *rest in spec)


st.title("Learning-rate schedulers")
st.markdown("A scheduler rewrites `optimizer.param_groups[i][\"lr\"]` each time you call `scheduler.step()` "
            "(per epoch, or per batch for OneCycleLR). The curves below are the lrs a real nyang scheduler "
            "hands an SGD optimizer (momentum 0.9), step by step; they match PyTorch's exactly.")
top = st.columns([2, 1, 1, 1])
name = top[0].selectbox("Scheduler", list(SCHEDULERS))
steps = top[1].slider("Steps", 10, 300, 100, 10)
base_lr = top[2].select_slider("Base lr η₀", [0.001, 0.01, 0.03, 0.1, 0.3, 1.0], value=0.1)
overlay = top[3].toggle("Overlay the others", help="every other scheduler, with its default arguments")
_, spec, formula = SCHEDULERS[name]
args = argument_widgets(name, spec)

lrs, momenta = schedule(name, args, steps, base_lr)
cycles_momentum = name == "OneCycleLR"
fig, axes = figure(ncols=2 if cycles_momentum else 1, width=11 if cycles_momentum else 9, height=3.4)
ax = axes[0] if cycles_momentum else axes
if overlay:
    for other, (_, other_spec, _) in SCHEDULERS.items():
        if other != name:
            ax.plot(schedule(other, defaults(other_spec), steps, base_lr)[0], color="lightgrey", linewidth=1,
                    drawstyle="steps-post")
ax.plot(lrs, color="#4C72B0", linewidth=2, label=name, drawstyle="steps-post")
ax.set(xlabel="step", ylabel="lr", title=f"{name}({', '.join(f'{k}={v}' for k, v in args)})")
if name == "ReduceLROnPlateau":
    twin = ax.twinx()
    twin.plot(plateau_loss(steps), color="#DD8452", alpha=0.6, linewidth=1)
    twin.set_ylabel("validation loss fed to step()", color="#DD8452")
if cycles_momentum:
    axes[1].plot(momenta, color="#55A868", linewidth=2, drawstyle="steps-post")
    axes[1].set(xlabel="step", ylabel="momentum", title="momentum (cycle_momentum=True)")
st.pyplot(fig)
st.latex(formula)
cols = st.columns(3)
cols[0].metric("lr at step 0", f"{lrs[0]:.4g}")
cols[1].metric("highest lr", f"{lrs.max():.4g}")
cols[2].metric(f"lr at step {steps - 1}", f"{lrs[-1]:.4g}")
