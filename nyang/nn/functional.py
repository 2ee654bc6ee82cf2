"""``nyang.nn.functional`` (``import nyang.nn.functional as F``): the same functions as
``nyang.functional``, under the name PyTorch users reach for."""
from nyang.functional import *  # noqa: F401,F403
from nyang.functional import __all__  # noqa: F401
