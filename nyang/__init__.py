"""nyang (냥냥 torch): a deep-learning framework for classification, written to be read.

One implementation runs on NumPy (CPU) or CuPy (NVIDIA GPU), written against the
Python Array API; ``NYANG_DEVICE=cuda`` selects the GPU.
"""
__version__ = "0.1.0"

from nyang import cuda  # noqa: F401
from nyang.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from nyang.creation import *  # noqa: F401,F403
from nyang.device import Device, device, get_device, set_device  # noqa: F401
from nyang.dtypes import (DType, bool_, double, float, float16, float32, float64, half,  # noqa: F401
                          int, int8, int16, int32, int64, long, promote_types, uint8)
from nyang.functional import *  # noqa: F401,F403
from nyang.random import Generator, default_generator, initial_seed, manual_seed  # noqa: F401
from nyang.tensor import Tensor, result_type  # noqa: F401
from nyang import amp, gradcheck, metrics, nn, optim  # noqa: F401,E402
from nyang.nn.summary import summary  # noqa: F401,E402
from nyang.checkpoint import CheckpointError, NoArchitectureError, load, load_model, save, save_model  # noqa: F401,E402
from nyang import data, models, viz  # noqa: F401,E402
from nyang.inference import evaluate, predict  # noqa: F401,E402
from nyang.training import fit  # noqa: F401,E402

bool = bool_  # noqa: A001  (nyang.bool, as torch.bool)
