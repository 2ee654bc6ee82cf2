"""The benchmark's MLP written straight in NumPy: the floor under any framework on NumPy.

Same weights, data and recipe as the framework sides of ``make bench`` (Linear layers
with ReLU between them, mean cross-entropy, SGD with momentum as PyTorch steps it), in
the fewest NumPy calls we know: no graph, no checks, no Tensor objects, gradients of
exactly the arrays that need them. What nyang takes above this is its own overhead
(autograd, modules, argument checks); what this takes is NumPy's and OpenBLAS's.
It assumes finite data: ReLU is a multiply by the mask, so it does not keep NaN as
nyang and PyTorch do.
"""
import numpy as np


class NumpyMLP:
    """Linear -> ReLU -> ... -> Linear on x (N, in_features), from the weights of a nyang
    model's Linear layers (copied), trained with cross-entropy and SGD momentum.

    ``weights``/``biases``: the layers' (out, in) and (out,) arrays, updated in place by
    :meth:`train_step`; ``params`` the same arrays as (weight, bias) pairs in order."""

    def __init__(self, linears, lr=0.01, momentum=0.9):
        self.weights = [np.array(layer.weight.numpy()) for layer in linears]
        self.biases = [np.array(layer.bias.numpy()) for layer in linears]
        self.params = [p for w, b in zip(self.weights, self.biases) for p in (w, b)]
        self.lr, self.momentum = lr, momentum
        self.buffers = None  # momentum buffers, made by the first step as PyTorch does

    def forward(self, x, keep=None):
        """Logits (N, classes) of x (N, in); ``keep`` (a list) receives each layer's
        input and each ReLU's mask, which the backward reads."""
        h = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if keep is not None:
                keep.append(h)
            h = h @ w.T
            h += b
            if i < len(self.weights) - 1:
                mask = h > 0
                h *= mask
                if keep is not None:
                    keep.append(mask)
        return h

    def train_step(self, x, y):
        """One step on x (N, in) with class indices y (N,); returns the mean loss."""
        n, rows = x.shape[0], np.arange(x.shape[0])
        kept = []
        z = self.forward(x, kept)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        total = e.sum(axis=1, keepdims=True)
        loss = np.log(total).mean() - z[rows, y].mean()
        g = e / total  # d loss / d logits = (softmax - onehot) / N
        g[rows, y] -= 1
        g /= n
        grads = [None] * len(self.params)  # in the order of self.params
        for i in range(len(self.weights) - 1, -1, -1):
            grads[2 * i], grads[2 * i + 1] = g.T @ kept[2 * i], g.sum(axis=0)
            if i:
                g = g @ self.weights[i]
                g *= kept[2 * i - 1]
        if self.buffers is None:
            self.buffers = [d.copy() for d in grads]
        else:
            for buf, d in zip(self.buffers, grads):
                buf *= self.momentum
                buf += d
        for p, buf in zip(self.params, self.buffers):
            p -= self.lr * buf
        return float(loss)


def numpy_cases(model, x, y):
    """``{"train": step, "infer": step}`` of a :class:`NumpyMLP` copied from the nyang
    MLP ``model`` (its Linear layers in order, each with a bias), on x (N, *) flattened
    and y (N,)."""
    from nyang import nn

    mlp = NumpyMLP([m for m in model.modules() if isinstance(m, nn.Linear)])
    x = np.ascontiguousarray(x.reshape(x.shape[0], -1))
    y = np.asarray(y, dtype=np.int64)
    return {"train": lambda: mlp.train_step(x, y), "infer": lambda: mlp.forward(x)}
