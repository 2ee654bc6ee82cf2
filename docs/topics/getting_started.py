"""Getting started: install, the two README commands, a first model, the GPU."""
import contextlib
import io

import streamlit as st

FIRST_MODEL = """\
import nyang
from nyang import nn, optim
from nyang.data import datasets

nyang.manual_seed(0)
train, valid, test = datasets.iris(scaler="standard").loaders(batch_size=16)
model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
optimizer = optim.Adam(model.parameters(), lr=1e-2)
nyang.fit(model, optimizer, nn.CrossEntropyLoss(), train, valid, epochs=20, progress=False)
print(nyang.evaluate(model, test, progress=False))
"""


@st.cache_data(show_spinner="Training…")
def run_snippet(code):
    """What ``code`` prints (it is the snippet shown above, run by nyang here)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "first_model.py", "exec"), {"__name__": "first_model"})
    return printed.getvalue()


st.title("nyang (냥냥 torch)")
st.markdown("A deep-learning framework for classification, written from scratch to be read. One "
            "implementation, written against the Python Array API, runs on NumPy (CPU) or CuPy (NVIDIA GPU). "
            "Its names follow PyTorch, so a PyTorch user guesses right: `nn.Conv2d`, `optim.AdamW`, "
            "`lr_scheduler.OneCycleLR`, `data.DataLoader`, `model.eval()`, `state_dict()`.")

st.header("Install")
st.markdown("On a fresh machine with Python 3.11 and `make`, from the repository root:")
st.code("make demo   # creates .venv, installs nyang, trains the digits CNN\n"
        "make test   # installs the test extras (PyTorch as the oracle) and runs the CPU test suite\n"
        "make docs   # this site, on http://127.0.0.1:8501", language="bash")
st.markdown("Or by hand, in a virtual environment: `pip install -e .` (nyang needs only numpy, "
            "array-api-compat and tqdm), `pip install -e \".[docs]\"` for this site.")

st.header("A first model in ten lines")
st.code(FIRST_MODEL, language="python")
if st.button("Run it", icon=":material/play_arrow:", type="primary"):
    st.session_state["first_model_output"] = run_snippet(FIRST_MODEL)
if "first_model_output" in st.session_state:
    st.code(st.session_state["first_model_output"], language="text")
st.markdown("`fit` prints one line per epoch and returns the history; `evaluate` scores the test split. "
            "The **Train in the browser** page does the same with curves, a confusion matrix and a checkpoint.")

st.header("Moving to the GPU")
st.markdown("Install CuPy for your CUDA version:")
st.code('pip install -e ".[cuda]"   # cupy-cuda13x, for CUDA 13\n'
        "pip install cupy-cuda12x   # with a CUDA 12 driver instead", language="bash")
st.markdown("Then pick the device for the whole program before it starts, with `NYANG_DEVICE` (`cpu`, the "
            "default; `cuda`; `cuda:N`):")
st.code("NYANG_DEVICE=cuda python examples/digits_cnn.py", language="bash")
st.markdown("…or from code:")
st.code('nyang.set_device("cuda")          # the default device from here on\n'
        'x = nyang.randn(8, 3).to("cuda")  # one tensor\n'
        'model.to("cuda")                  # a model\'s parameters and buffers', language="python")
st.markdown("Asking for CUDA where it cannot run is an error that says what is missing; nothing falls back to "
            "the CPU silently.")
