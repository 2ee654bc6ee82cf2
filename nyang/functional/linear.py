"""The affine map of a Linear layer, as one op."""
from nyang.autograd import Function


class LinearFunction(Function):
    """y = x @ W^T + b for x of shape (*, in), W (out, in), b (out,)."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        xp, needs = ctx.xp, ctx.needs_input_grad
        ctx.x = x if needs[1] else None  # only what backward needs
        ctx.weight = weight if needs[0] else None
        y = x @ xp.matrix_transpose(weight)  # BLAS reads the transposed view as is: no copy
        if bias is None:
            return y
        if bias.dtype != y.dtype:  # mixed dtypes (PyTorch refuses them): promote as before
            return y + bias
        y += bias  # in place: y is this op's own new array
        return y

    @staticmethod
    def backward(ctx, g):
        xp, x, w = ctx.xp, ctx.x, ctx.weight
        needs = ctx.needs_input_grad
        gx = g @ w if needs[0] else None
        g2 = xp.reshape(g, (-1, g.shape[-1]))
        gw = xp.matrix_transpose(g2) @ xp.reshape(x, (-1, x.shape[-1])) if needs[1] else None
        gb = xp.sum(g2, axis=0) if len(needs) > 2 and needs[2] else None
        return gx, gw, gb


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``: input (*, in_features), weight (out_features, in_features)."""
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input of shape {input.shape} does not fit a weight of shape "
                         f"{weight.shape}; expected input (*, {weight.shape[-1]})")
    if bias is None:
        return LinearFunction.apply(input, weight)
    return LinearFunction.apply(input, weight, bias)
