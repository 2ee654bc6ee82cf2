"""Augmentation: nyang.data.transforms (and Mixup/CutMix) on the bundled 8x8 digits."""
import numpy as np
import streamlit as st

import nyang
from nyang.data import datasets
from nyang.data import transforms as T
from nyangdocs.figures import image_grid

# name: (build(strength, generator), (strength label, low, high, default), per sample or per batch)
TRANSFORMS = {
    "RandomRotation": (lambda s, g: T.RandomRotation(s, generator=g), ("degrees", 0.0, 90.0, 25.0), "sample"),
    "RandomAffine": (lambda s, g: T.RandomAffine(0, translate=(s, s), scale=(0.85, 1.15), shear=10, generator=g),
                     ("translate (fraction)", 0.0, 0.4, 0.15), "sample"),
    "RandomResizedCrop": (lambda s, g: T.RandomResizedCrop(8, scale=(s, 1.0), generator=g),
                          ("smallest area kept", 0.2, 1.0, 0.6), "sample"),
    "RandomHorizontalFlip": (lambda s, g: T.RandomHorizontalFlip(s, generator=g), ("p", 0.0, 1.0, 0.5), "sample"),
    "GaussianBlur": (lambda s, g: T.GaussianBlur(3, sigma=(0.1, s), generator=g), ("largest sigma", 0.1, 2.0, 1.0),
                     "sample"),
    "ColorJitter": (lambda s, g: T.ColorJitter(brightness=s, contrast=s, generator=g),
                    ("brightness and contrast", 0.0, 0.9, 0.5), "sample"),
    "RandomErasing": (lambda s, g: T.RandomErasing(s, value=0.5, generator=g), ("p", 0.0, 1.0, 0.7), "sample"),
    "Mixup": (lambda s, g: T.Mixup(s, 10, generator=g), ("alpha", 0.1, 2.0, 0.4), "batch"),
    "CutMix": (lambda s, g: T.CutMix(s, 10, generator=g), ("alpha", 0.1, 2.0, 1.0), "batch"),
}


@st.cache_data
def digits():
    """The bundled digits as (N, 1, 8, 8) float32 in [0, 1] and their labels."""
    x, y, _ = datasets.load_raw("digits")
    return (x.reshape(-1, 1, 8, 8) / 16.0).astype(np.float32), y


@st.cache_data
def augment(pipeline, seed):
    """One digit of each class (picked by ``seed``) before and after ``pipeline``
    (``((name, strength), ...)``); labels are soft after Mixup or CutMix."""
    images, labels = digits()
    order = np.asarray(nyang.Generator("cpu").manual_seed(seed).permutation(len(images)))
    pick = [order[labels[order] == k][0] for k in range(10)]
    before, y = images[pick], labels[pick]
    built = [(TRANSFORMS[name][2], TRANSFORMS[name][0](strength, nyang.Generator("cpu").manual_seed(seed * 31 + k)))
             for k, (name, strength) in enumerate(pipeline)]
    samples = [T.Compose([t for kind, t in built if kind == "sample"])(image) for image in before]
    x, targets = nyang.tensor(np.stack(samples)), nyang.tensor(y)
    for kind, mixer in built:
        if kind == "batch":
            x, targets = mixer(x, targets)
    return before, y, np.clip(x.numpy(), 0.0, 1.0), targets.numpy()


def label(target):
    """A class index, or the two largest shares of a soft target such as ``3·0.7 + 5·0.3``."""
    if np.ndim(target) == 0:
        return str(int(target))
    top = np.argsort(target)[::-1][:2]
    return " + ".join(f"{k}·{target[k]:.2f}" for k in top if target[k] > 0.005)


def reseed():
    """The Reseed button: the next seed, so every random transform draws anew."""
    st.session_state["augmentation_seed"] += 1


st.title("Augmentation")
st.markdown("Random transforms show the model a slightly different image every epoch, so it learns what a digit "
            "is rather than the exact pixels of the training set. Per-sample transforms (`nyang.data.transforms`) "
            "run on the host inside the DataLoader; **Mixup** and **CutMix** mix whole batches and their labels, "
            "which become soft targets that `CrossEntropyLoss` accepts.")
with st.expander("The math of Mixup and CutMix"):
    st.markdown("Both draw a mixing weight from a Beta distribution and pair each sample with another sample "
                "of the batch (a random permutation $\\pi$):")
    st.latex(r"\lambda \sim \mathrm{Beta}(\alpha, \alpha), \qquad "
             r"\tilde{x}_i = \lambda\, x_i + (1 - \lambda)\, x_{\pi(i)}, \qquad "
             r"\tilde{y}_i = \lambda\, y_i + (1 - \lambda)\, y_{\pi(i)}")
    st.markdown("CutMix pastes a box of $x_{\\pi(i)}$ into $x_i$ instead of blending every pixel; the box has area "
                "$(1 - \\lambda) H W$, and after clipping it to the image the label weight is the area actually "
                "kept, $\\lambda = 1 - \\frac{\\text{box area}}{H W}$. With one-hot $y$, the soft-target "
                "cross-entropy then splits into the two classes' losses:")
    st.latex(r"\ell(\tilde{x}_i) = -\sum_k \tilde{y}_{ik} \log \operatorname{softmax}(f(\tilde{x}_i))_k "
             r"= \lambda\, \mathrm{CE}(f(\tilde{x}_i), y_i) + (1 - \lambda)\, \mathrm{CE}(f(\tilde{x}_i), y_{\pi(i)})")
st.session_state.setdefault("augmentation_seed", 0)
top = st.columns([3, 1, 1], vertical_alignment="bottom")
chosen = top[0].multiselect("Transforms, applied in this order (Mixup/CutMix last, on the batch)", list(TRANSFORMS),
                            default=["RandomRotation", "RandomErasing"])
seed = top[1].number_input("Seed", 0, 10 ** 6, key="augmentation_seed")
top[2].button("Reseed", on_click=reseed, icon=":material/casino:")
strengths = {}
for column, name in zip(st.columns(max(len(chosen), 1)), chosen):
    text, low, high, default = TRANSFORMS[name][1]
    strengths[name] = column.slider(f"{name}: {text}", low, high, default, key=f"strength:{name}")

before, y, after, targets = augment(tuple((name, strengths[name]) for name in chosen), int(seed))
left, right = st.columns(2)
with left:
    st.subheader("Before")
    st.pyplot(image_grid(before[:, 0], [label(t) for t in y], ncols=5))
with right:
    st.subheader("After")
    st.pyplot(image_grid(after[:, 0], [label(t) for t in targets], ncols=5))
pipeline = [repr(TRANSFORMS[name][0](strengths[name], None)) for name in chosen]
st.code("\n".join(pipeline) or "# no transform: the images are unchanged", language="python")
st.caption(f"Mean absolute pixel change: {np.abs(after - before).mean():.4f}. RandomErasing fills with 0.5 here "
           "to be visible; after Normalize the usual fill is 0, the mean.")
