"""The nyang documentation site: ``make docs`` (``streamlit run docs/app.py``).

One page per file in ``topics/`` (not ``pages/``: Streamlit runs a folder of that
name beside the main script as a legacy multipage app, which bypasses this file's
navigation when a page's URL is opened first); shared helpers in ``nyangdocs/``.

Every figure and number on these pages is computed by nyang itself; only the
"nyang vs PyTorch" page touches PyTorch, and only when asked to run a comparison.
"""
import streamlit as st

PAGES = {
    "Start": [
        st.Page("topics/getting_started.py", title="Getting started", icon=":material/rocket_launch:", default=True),
        st.Page("topics/api_reference.py", title="API reference", icon=":material/menu_book:"),
    ],
    "Concepts": [
        st.Page("topics/forward_backward.py", title="Forward and backward", icon=":material/swap_horiz:"),
        st.Page("topics/activations.py", title="Activations", icon=":material/show_chart:"),
        st.Page("topics/initialization.py", title="Initialization", icon=":material/tune:"),
        st.Page("topics/optimizers.py", title="Optimizers", icon=":material/route:"),
        st.Page("topics/schedulers.py", title="Learning-rate schedulers", icon=":material/trending_down:"),
        st.Page("topics/normalization.py", title="Normalization", icon=":material/grid_on:"),
        st.Page("topics/losses.py", title="Losses", icon=":material/functions:"),
        st.Page("topics/augmentation.py", title="Augmentation", icon=":material/auto_fix_high:"),
    ],
    "Practice": [
        st.Page("topics/train.py", title="Train in the browser", icon=":material/model_training:"),
        st.Page("topics/compare.py", title="nyang vs PyTorch", icon=":material/compare_arrows:"),
    ],
}

st.set_page_config(page_title="nyang docs", page_icon="🐱", layout="wide")
st.sidebar.caption("냥냥 torch — a deep-learning framework written to be read. "
                   "Everything on these pages is computed by nyang.")
st.navigation(PAGES).run()
