"""nyang vs PyTorch: the results of `nyang compare` and `make bench`, and a small comparison on request.

The only page of the site that uses PyTorch, and only to run a comparison.
"""
import importlib.util
import tempfile

import numpy as np
import streamlit as st

from nyangdocs import results
from nyangdocs.figures import COLORS, figure

try:  # nyang compare is new; the page works without it
    from nyang import compare as nyang_compare
except ImportError:
    nyang_compare = None


@st.cache_data(show_spinner="Training in nyang and in PyTorch, step by step…")
def run_comparison(data, model, epochs):
    """``nyang.compare.compare`` on a bundled dataset, without the memory subprocesses."""
    with tempfile.TemporaryDirectory() as out:
        return nyang_compare.compare(data=data, model=model, epochs=epochs, out=out, memory=False, verbose=False)


def curves_figure(curves):
    """Both training-loss curves (PyTorch dashed over nyang) and their relative difference per step."""
    fig, (left, right) = figure(ncols=2, width=11, height=3.2)
    left.plot(curves.index, curves["nyang"], color=COLORS[0], linewidth=4, alpha=0.4, label="nyang")
    left.plot(curves.index, curves["PyTorch"], color=COLORS[1], linewidth=1.6, linestyle="--", label="PyTorch")
    left.set(xlabel="step", ylabel="training loss", title="loss per step")
    left.legend(fontsize=8)
    relative = np.abs(curves["nyang"] - curves["PyTorch"]) / np.maximum(np.abs(curves["PyTorch"]), 1e-12)
    right.plot(curves.index, np.maximum(relative, 1e-12), color=COLORS[3], linewidth=1)
    right.set(xlabel="step", yscale="log", title="|nyang − PyTorch| / |PyTorch|")
    return fig


def ratio_figure(table, ratios):
    """Horizontal bars of the ratio columns, one group per row of ``table``, a line at 1."""
    labels = table.iloc[:, 0].astype(str).tolist()
    fig, ax = figure(width=9, height=0.5 + 0.35 * len(labels) * len(ratios))
    height = 0.8 / len(ratios)
    for k, (color, column) in enumerate(zip(COLORS, ratios)):
        ax.barh(np.arange(len(labels)) + k * height, table[column], height=height, color=color, label=column)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(np.arange(len(labels)) + height * (len(ratios) - 1) / 2, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("nyang / PyTorch (below 1: nyang is faster or smaller)")
    if len(ratios) > 1:
        ax.legend(fontsize=8)
    return fig


def show_compare(report):
    """The side-by-side table, the two loss curves and the run's settings."""
    if not isinstance(report, dict) or "nyang" not in report or "torch" not in report:
        st.json(report)  # a format this page does not know (yet)
        return
    options = report.get("options", {})
    st.caption(", ".join(f"{k}={v}" for k, v in options.items() if v is not None))
    st.dataframe(results.compare_table(report, getattr(nyang_compare, "ROWS", None)), hide_index=True)
    curves = results.loss_curves(report)
    if curves is not None:
        st.markdown("**Training loss per step**: the two curves should lie on top of each other.")
        st.pyplot(curves_figure(curves))
    if "max_rel_diff" in report:
        st.caption(f"Largest relative difference between the losses: {report['max_rel_diff_first_100']:.2e} over the "
                   f"first 100 steps, {report['max_rel_diff']:.2e} over all {report['compared_steps']} steps.")
    for key in ("timing", "memory"):
        if report.get(key):
            st.caption(f"{key.capitalize()}: {report[key]}.")
    with st.expander("Environment"):
        st.json(report.get("environment", {}))


def relative(path):
    """``path`` as shown: relative to the repository when inside it."""
    return str(path.relative_to(results.ROOT)) if path.is_relative_to(results.ROOT) else str(path)


st.title("nyang vs PyTorch")
st.markdown("PyTorch is nyang's oracle: every op, layer, loss, optimizer and scheduler is tested against it. "
            "These pages show the two side by side on whole runs (`nyang compare`, `make compare`) and on speed "
            "(`make bench`), from the JSON files those commands leave in the repository.")

st.header("Training side by side")
found = results.find("compare")
if found:
    path = st.selectbox("compare.json", found, format_func=relative)
    show_compare(results.read(path))
else:
    st.info("No compare.json yet: run `make compare` (or `nyang compare --data iris --model mlp`), or a small "
            "comparison below.")

st.subheader("Run a small comparison here")
if nyang_compare is None:
    st.warning("`nyang.compare` is not available in this checkout.")
elif importlib.util.find_spec("torch") is None:
    st.warning("Comparing needs PyTorch: `pip install -e \".[compare]\"`.")
else:
    with st.form("small comparison"):
        row = st.columns(3)
        data = row[0].selectbox("Dataset", ["iris", "wine", "breast_cancer", "digits"])
        model = row[1].selectbox("Model", ["mlp", "cnn"], help="cnn: digits only")
        epochs = row[2].number_input("Epochs", 1, 20, 3)
        run = st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")
    if run and model == "cnn" and data != "digits":
        st.error("The CNN needs images: pick digits, or the mlp.")
    elif run:
        show_compare(run_comparison(data, model, int(epochs)))
        st.caption("Timings of a few epochs of a small dataset mostly measure start-up costs; "
                   "`make compare` gives figures that mean something.")

st.header("Speed: `make bench`")
bench_files = results.find("bench")
if not bench_files:
    st.info("No bench*.json yet: run `make bench` (nyang vs PyTorch per layer and per model, interleaved step by "
            "step in one process).")
for path in bench_files:
    report = results.read(path)
    st.subheader(relative(path))
    for name, table in results.tables(report).items():
        st.markdown(f"**{name}**")
        st.dataframe(table, hide_index=True)
        ratios = [c for c in table.columns if "ratio" in c.lower()]
        if ratios and table.columns[0] not in ratios:
            st.pyplot(ratio_figure(table, ratios))
    if isinstance(report, dict) and "environment" in report:
        with st.expander("Environment"):
            st.json(report["environment"])
