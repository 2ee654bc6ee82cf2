"""Activation functions, each a Function with its derivative beside it."""
import math

from nyang.autograd import Function
from nyang.functional._util import normalize_dim
from nyang.functional.math import Sigmoid, Tanh

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class ReLU(Function):
    """max(x, 0). Keeps only a bool mask (1 byte per element) for backward, which
    the kernels apply without ``where`` (see ``backends``)."""

    @staticmethod
    def forward(ctx, x):
        if not ctx.needs_input_grad[0]:
            return ctx.xp.maximum(x, 0.0)
        y, ctx.mask = ctx.kernels.relu(ctx.xp, x)
        return y

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.relu_backward(ctx.xp, g, ctx.mask)


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx, x, negative_slope):
        ctx.positive, ctx.slope = x > 0, negative_slope
        return ctx.xp.where(ctx.positive, x, x * negative_slope)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.where(ctx.positive, g, g * ctx.slope)


class ELU(Function):
    """alpha * (exp(x) - 1) for x <= 0, x otherwise; times ``scale`` (SELU uses it)."""

    @staticmethod
    def forward(ctx, x, alpha, scale):
        xp = ctx.xp
        ctx.positive = x > 0
        negative = alpha * (xp.exp(xp.minimum(x, 0.0)) - 1.0)  # min() keeps exp from overflowing
        ctx.negative, ctx.alpha, ctx.scale = negative, alpha, scale
        out = xp.where(ctx.positive, x, negative)
        return out * scale if scale != 1.0 else out

    @staticmethod
    def backward(ctx, g):
        # d/dx alpha (e^x - 1) = alpha e^x = negative + alpha
        local = ctx.xp.where(ctx.positive, 1.0, ctx.negative + ctx.alpha)
        return g * (local * ctx.scale if ctx.scale != 1.0 else local)


class GELU(Function):
    """x * Phi(x); ``approximate="tanh"`` uses 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""

    @staticmethod
    def forward(ctx, x, approximate):
        xp = ctx.xp
        ctx.x, ctx.approximate = x, approximate
        if approximate == "tanh":
            inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
            ctx.t = xp.tanh(inner)
            return 0.5 * x * (1.0 + ctx.t)
        ctx.cdf = 0.5 * (1.0 + ctx.kernels.erf(xp, x * (1.0 / math.sqrt(2.0))))
        return x * ctx.cdf

    @staticmethod
    def backward(ctx, g):
        xp, x = ctx.xp, ctx.x
        if ctx.approximate == "tanh":
            k = math.sqrt(2.0 / math.pi)
            d_inner = k * (1.0 + 3 * 0.044715 * x * x)
            return g * (0.5 * (1.0 + ctx.t) + 0.5 * x * (1.0 - ctx.t * ctx.t) * d_inner)
        pdf = xp.exp(-0.5 * x * x) * (1.0 / math.sqrt(2.0 * math.pi))
        return g * (ctx.cdf + x * pdf)


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        xp = ctx.xp
        e = xp.exp(x - xp.max(x, axis=dim, keepdims=True))
        y = e / xp.sum(e, axis=dim, keepdims=True)
        ctx.y, ctx.dim = y, dim
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.y
        return y * (g - ctx.xp.sum(g * y, axis=ctx.dim, keepdims=True))


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        xp = ctx.xp
        shifted = x - xp.max(x, axis=dim, keepdims=True)
        y = shifted - xp.log(xp.sum(xp.exp(shifted), axis=dim, keepdims=True))
        ctx.y, ctx.dim = y, dim
        return y

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        return g - xp.exp(ctx.y) * xp.sum(g, axis=ctx.dim, keepdims=True)


def relu(input):
    """max(x, 0)."""
    return ReLU.apply(input)


def leaky_relu(input, negative_slope=0.01):
    """x for x > 0, negative_slope * x otherwise."""
    return LeakyReLU.apply(input, negative_slope)


def elu(input, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return ELU.apply(input, alpha, 1.0)


def selu(input):
    """scale * elu(x, alpha) with the self-normalising constants."""
    return ELU.apply(input, SELU_ALPHA, SELU_SCALE)


def gelu(input, approximate="none"):
    """x * Phi(x) (exact, through erf) or its tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(input, approximate)


def sigmoid(input):
    return Sigmoid.apply(input)


def tanh(input):
    return Tanh.apply(input)


def softmax(input, dim):
    """exp(x) / sum(exp(x)) along ``dim`` (computed around the max)."""
    return Softmax.apply(input, normalize_dim(dim, input.ndim, "softmax"))


def log_softmax(input, dim):
    """x - logsumexp(x) along ``dim``."""
    return LogSoftmax.apply(input, normalize_dim(dim, input.ndim, "log_softmax"))
