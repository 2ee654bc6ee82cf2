"""API reference: every public class and function, read from the code with inspect."""
import streamlit as st

from nyangdocs import apiref


@st.cache_data(show_spinner="Reading the code…")
def index():
    """The reference entries and module docstrings (see ``nyangdocs.apiref``)."""
    return apiref.build_index(), apiref.module_docs()


def show(entry):
    """One class or function: signature, shapes, docstring, methods."""
    first_sentence = apiref.to_markdown(entry["summary"].split(". ")[0].rstrip("."))
    with st.expander(f"**{entry['name']}** — {first_sentence}"):
        st.code(f"{entry['qualname']}{entry['signature']}", language="python", wrap_lines=True)
        if entry["shapes"]:
            st.caption("Shapes: " + ", ".join(f"`{s}`" for s in entry["shapes"]))
        if entry["also"]:
            st.caption("Also available as " + ", ".join(f"`{a}`" for a in entry["also"]))
        st.markdown(apiref.to_markdown(entry["doc"]) or "*No docstring.*")
        if entry["members"]:
            lines = ["**Methods and properties**", ""]
            for name, sig, doc in entry["members"]:
                summary = apiref.to_markdown(doc.split("\n\n")[0]).replace("\n", " ") if doc else ""
                lines.append(f"- `{name}{sig}`" + (f" — {summary}" if summary else ""))
            st.markdown("\n".join(lines))


entries, module_docs = index()
st.title("API reference")
st.caption(f"{len(entries)} public classes and functions, generated from the signatures and docstrings of the "
           "code you have installed, so it cannot go stale.")
query = st.text_input("Search names", placeholder="e.g. conv, AdamW, cross_entropy, save_model")
if query.strip():
    hits = apiref.search(entries, query)
    st.subheader(f"{len(hits)} match{'es' if len(hits) != 1 else ''} for “{query.strip()}”")
    for entry in hits[:60]:
        st.markdown(f"`{entry['module']}`")
        show(entry)
else:
    counts = {}
    for entry in entries:
        counts[entry["module"]] = counts.get(entry["module"], 0) + 1
    # the module tree: each module under the package that holds it, indented by depth
    tree = sorted(counts, key=lambda m: m.split("."))
    module = st.selectbox("Module", tree, format_func=lambda m: "\u2003" * m.count(".") + f"{m}  ({counts[m]})")
    st.subheader(f"`{module}`")
    st.markdown(apiref.to_markdown(module_docs.get(module, "")))
    for entry in entries:
        if entry["module"] == module:
            show(entry)
