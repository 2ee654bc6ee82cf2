"""Weight initialisation, as ``torch.nn.init``: each function fills a tensor in
place (under no_grad) and returns it; each takes ``generator=`` (default: the
tensor's device's default generator; the constant fills accept it and draw nothing)."""
import math

from nyang.functional.device_ops import move
from nyang.random import default_generator


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for an activation: 1 for linear/conv/sigmoid, 5/3 for
    tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu, 3/4 for selu."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fans(tensor):
    if tensor.ndim < 2:
        raise ValueError(f"init: fan in and fan out need a tensor of at least 2 dims, got shape {tensor.shape}")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fill(tensor, draw, generator):
    gen = generator or default_generator(tensor.device)
    array = draw(gen, tensor.dtype.name)
    tensor.data = move(array, gen.device, tensor.device)
    return tensor


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with samples from U[a, b)."""
    return _fill(tensor, lambda g, d: g.uniform(tensor.shape, d, a, b), generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with samples from N(mean, std^2)."""
    return _fill(tensor, lambda g, d: g.normal(tensor.shape, d, mean, std), generator)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with N(mean, std^2) samples restricted to [a, b] (out-of-range samples
    are drawn again, which gives exactly the truncated distribution)."""
    if not a < b:
        raise ValueError(f"trunc_normal_: the bounds must satisfy a < b, got a={a}, b={b}")
    gen = generator or default_generator(tensor.device)
    xp = gen.device.xp
    values = gen.normal(tensor.shape, tensor.dtype.name, mean, std)
    for _ in range(1000):
        outside = (values < a) | (values > b)
        if not bool(xp.any(outside)):
            break
        values = xp.where(outside, gen.normal(tensor.shape, tensor.dtype.name, mean, std), values)
    else:
        raise ValueError(f"trunc_normal_: [a, b] = [{a}, {b}] is too far from mean {mean} (std {std}) to sample")
    tensor.data = move(values, gen.device, tensor.device)
    return tensor


def constant_(tensor, val, generator=None):
    """Fill with ``val`` (``generator`` is accepted like every init function's; nothing is drawn)."""
    xp = tensor.device.xp
    tensor.data = xp.full(tensor.shape, val, dtype=tensor.data.dtype, device=tensor.device.native)
    return tensor


def zeros_(tensor, generator=None):
    """Fill with 0."""
    return constant_(tensor, 0.0)


def ones_(tensor, generator=None):
    """Fill with 1."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"kaiming init: cannot initialise a tensor of shape {tensor.shape} (zero fan)")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He uniform: U(-b, b) with b = gain * sqrt(3 / fan)."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He normal: N(0, std^2) with std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def default_weight_init_(weight, bias, generator=None):
    """PyTorch's default for Linear and Conv layers: kaiming_uniform_(a=sqrt(5)) on the
    weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the bias."""
    kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    if bias is not None:
        fan_in, _ = _fans(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound, generator)


def named_weight_init_(scheme, weight, bias, generator=None):
    """Initialise for the activation that follows: ``"kaiming"`` (ReLU nets: He
    uniform, zero bias), ``"kaiming_normal"``, ``"xavier"`` (tanh/sigmoid/linear:
    Glorot uniform, zero bias), ``"xavier_normal"``, or None for PyTorch's default."""
    schemes = {
        "kaiming": lambda: kaiming_uniform_(weight, nonlinearity="relu", generator=generator),
        "kaiming_uniform": lambda: kaiming_uniform_(weight, nonlinearity="relu", generator=generator),
        "kaiming_normal": lambda: kaiming_normal_(weight, nonlinearity="relu", generator=generator),
        "xavier": lambda: xavier_uniform_(weight, generator=generator),
        "xavier_uniform": lambda: xavier_uniform_(weight, generator=generator),
        "xavier_normal": lambda: xavier_normal_(weight, generator=generator),
    }
    if scheme is None:
        return default_weight_init_(weight, bias, generator)
    if scheme not in schemes:
        raise ValueError(f"init: unknown scheme {scheme!r}; expected None or one of {sorted(schemes)}")
    schemes[scheme]()
    if bias is not None:
        zeros_(bias)
