"""``nyang.nn``: modules, layers, losses and init."""
from nyang.nn import functional  # noqa: F401
