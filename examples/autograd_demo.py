"""A first look at nyang: build a small graph, back-propagate, read the gradients.

Run with `make demo` (or `python examples/autograd_demo.py`).
"""
import nyang

nyang.manual_seed(0)

# y = sum(tanh(x @ w + b)^2): a one-layer network's squared activations
x = nyang.randn(4, 3)
w = nyang.randn(3, 2, requires_grad=True)
b = nyang.zeros(2, requires_grad=True)

h = (x @ w + b).tanh()
y = (h ** 2).sum()
print("x =", x)
print("y =", y)

y.backward()
print("dy/dw =", w.grad)
print("dy/db =", b.grad)

# The same gradient by hand: dy/db = sum_rows 2 h (1 - h^2)
by_hand = (2 * h * (1 - h ** 2)).sum(dim=0)
print("by hand:", by_hand.detach())
print("device:", nyang.get_device(), "| max difference:", float((b.grad - by_hand).abs().max()))
