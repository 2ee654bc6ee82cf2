"""Train in the browser: nyang's Trainer with live curves, a stop button and a checkpoint."""
import pandas as pd
import streamlit as st

from nyangdocs import live
from nyangdocs.figures import image_grid

JOB_KEY = "train_job"


def request_stop():
    """The Stop button's callback: raise the flag that LiveProgress checks."""
    st.session_state[live.STOP_KEY] = True


st.title("Train in the browser")
st.markdown("Pick a bundled dataset, a model, an optimizer and a scheduler, and train it here with "
            "`nyang.training.Trainer` (what `nyang.fit` runs). A `Callback` draws every epoch into the "
            "page; **Stop** sets a flag that the callback turns into `trainer.should_stop`.")
with st.form("config"):
    row = st.columns(5)
    dataset = row[0].selectbox("Dataset", list(live.DATASETS))
    model = row[1].selectbox("Model", live.MODELS, index=1, help="cnn: digits only (8x8 images)")
    hidden = row[2].select_slider("mlp hidden units", [8, 16, 32, 64, 128], value=32)
    batch_size = row[3].select_slider("Batch size", [8, 16, 32, 64, 128], value=32)
    seed = row[4].number_input("Seed", 0, 10 ** 6, 0)
    row = st.columns(4)
    optimizer = row[0].selectbox("Optimizer", list(live.OPTIMIZERS), index=2)
    lr = row[1].select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1], value=1e-2)
    scheduler = row[2].selectbox("Scheduler", list(live.SCHEDULERS))
    epochs = row[3].number_input("Epochs", 1, 200, 20)
    submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:")

if submitted:
    if model == "cnn" and dataset != "digits":
        st.error("The CNN needs images: pick digits, or the linear or mlp model.")
        st.stop()
    st.session_state[JOB_KEY] = live.Job({"dataset": dataset, "model": model, "hidden": hidden, "optimizer": optimizer,
                                          "lr": lr, "scheduler": scheduler, "epochs": int(epochs),
                                          "batch_size": batch_size, "seed": int(seed)})
job = st.session_state.get(JOB_KEY)
st.button("Stop", on_click=request_stop, disabled=job is None or job.done, icon=":material/stop:")
if job is None:
    st.info("Set up a run above and press **Train**.")
    st.stop()

config = job.config
st.subheader(f"{config['model']} on {config['dataset']}, {config['optimizer']} (lr {config['lr']:g}), "
             f"scheduler {config['scheduler']}")
job.run(live.View())

result = job.result
epochs_run = len(job.trainer.history.rows)
if job.stopped:
    st.warning(f"Stopped after {epochs_run} of {config['epochs']} epochs; the scores are those of the weights then.")
else:
    st.success(f"Trained {epochs_run} epoch{'' if epochs_run == 1 else 's'}.")
cols = st.columns(3)
cols[0].metric("Test accuracy", f"{result['scores']['accuracy']:.3f}")
cols[1].metric("Test macro F1", f"{result['scores']['f1']:.3f}")
cols[2].metric("Wrong predictions", f"{len(result['wrong'])} / {len(result['y_true'])}")

classes = job.splits.classes
left, right = st.columns(2)
with left:
    st.markdown("**Confusion matrix** (test split, `nyang.viz.save_confusion_matrix`)")
    st.image(result["confusion_png"])
with right:
    st.markdown("**A few wrong predictions**")
    wrong = result["wrong"][:16]
    probabilities = result["prediction"].probabilities
    predicted = result["prediction"].classes
    if len(wrong) == 0:
        st.write("None: every test sample is right.")
    elif config["dataset"] == "digits":
        images = job.splits.test.tensors[0][wrong, 0]
        titles = [f"{result['y_true'][i]} → {predicted[i]}" for i in wrong]
        st.pyplot(image_grid(images, titles, ncols=8))
        st.caption("true → predicted")
    else:
        st.dataframe(pd.DataFrame({"test row": wrong, "true": [classes[result["y_true"][i]] for i in wrong],
                                   "predicted": [classes[predicted[i]] for i in wrong],
                                   "confidence": probabilities[wrong, predicted[wrong]].round(3)}), hide_index=True)

st.download_button("Download the checkpoint (nyang.save_model)", result["checkpoint"],
                   file_name=f"{config['dataset']}-{config['model']}.npz", mime="application/octet-stream",
                   icon=":material/download:")
st.code(f'model, meta = nyang.load_model("{config["dataset"]}-{config["model"]}.npz", with_metadata=True)\n'
        'meta["classes"], meta["config"]', language="python")
