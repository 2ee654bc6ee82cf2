"""Helpers shared by the pages of the documentation site (``make docs``).

``apiref`` builds the API reference from the code with ``inspect``; ``autodiff``
gives a function's values and autograd derivatives at many points; ``figures``
draws matplotlib figures for Streamlit; ``live`` holds the training job of the
"Train in the browser" page; ``results`` finds and tabulates the comparison and
benchmark files. Nothing here imports PyTorch.
"""
