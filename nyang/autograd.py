"""Reverse-mode automatic differentiation.

A :class:`Function` is one differentiable op: ``forward(ctx, *arrays)`` computes on
raw arrays of the namespace ``ctx.xp`` and saves on ``ctx`` what ``backward`` needs;
``backward(ctx, grad)`` returns one gradient per input (None where there is none).
``Function.apply`` unwraps Tensors, runs ``forward`` and, when any input requires
grad, records ``ctx`` as the output's node of the graph.

Each node keeps, for each input, the input's own node (or the leaf tensor, into
which gradients accumulate), never the intermediate tensors themselves, so their
data can be freed as soon as nothing else holds it. :func:`backward` walks the
nodes in a topological order built without recursion, so graphs of any depth work.

Gradients are values: no code mutates a gradient array in place (an op's backward
may hand the same array to several inputs). Accumulation makes a new array.
"""
import functools
import threading


class _GradState(threading.local):
    """Whether ops record the graph, per thread as in PyTorch (a new thread starts
    with recording on, whatever the thread that started it is doing)."""

    enabled = True


_grad = _GradState()


def is_grad_enabled():
    """True unless inside :class:`no_grad` (or ``set_grad_enabled(False)``) in this thread."""
    return _grad.enabled


class _GradMode:
    mode = True

    def __enter__(self):
        self._previous = _grad.enabled
        _grad.enabled = self.mode

    def __exit__(self, *exc):
        _grad.enabled = self._previous

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._fresh():
                return fn(*args, **kwargs)

        return wrapper

    def _fresh(self):
        return self.__class__()


class _BareDecoratorGradMode(_GradMode):
    """A grad mode that also decorates without parentheses (``@nyang.no_grad``), as in
    PyTorch: called with a function, the class returns it wrapped."""

    def __new__(cls, func=None):
        if func is None:
            return super().__new__(cls)
        if not callable(func):
            raise TypeError(f"{cls.__name__}: takes no arguments, or a function to decorate; got {func!r}")
        return cls()(func)


class no_grad(_BareDecoratorGradMode):
    """Context manager and decorator (``@no_grad`` or ``@no_grad()``): ops inside record no graph."""

    mode = False


class enable_grad(_BareDecoratorGradMode):
    """Context manager and decorator (``@enable_grad`` or ``@enable_grad()``): turn graph
    recording back on inside ``no_grad``."""

    mode = True


class set_grad_enabled(_GradMode):
    """Turn graph recording on or off in this thread: at once when called
    (``nyang.set_grad_enabled(False)``), or for a block as a context manager
    (``with nyang.set_grad_enabled(is_train):``), restoring the previous mode on exit."""

    def __init__(self, mode):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled: mode must be a bool, got {mode!r}")
        self.mode = mode
        self._previous = _grad.enabled
        _grad.enabled = mode

    def __enter__(self):
        pass  # already set by __init__; __exit__ restores the mode from before

    def __call__(self, fn):
        _grad.enabled = self._previous  # as a decorator it sets the mode only inside fn
        return super().__call__(fn)

    def _fresh(self):
        return set_grad_enabled(self.mode)


class Context:
    """One node of the graph: the Function that ran, what it saved, and its inputs.

    ``needs_input_grad[i]`` tells whether input i wants a gradient; ``device``,
    ``xp`` and ``kernels`` are the inputs' device, namespace and kernel module.
    """

    def __init__(self, function, device):
        self.function = function
        self.device = device
        self.xp = device.xp
        self.kernels = device.kernels

    def name(self):
        return self.function.__name__ + "Backward"


class Function:
    """Base of every differentiable op: subclasses define ``forward`` and ``backward``
    as static methods on arrays (see the module docstring)."""

    @staticmethod
    def forward(ctx, *arrays, **options):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **options):
        """Run the op on Tensors (and plain constants) and record it in the graph."""
        device = None
        arrays = []
        needs = []
        for a in args:
            if isinstance(a, Tensor):
                if device is None:
                    device = a._device
                elif a._device is not device:
                    raise RuntimeError(f"{cls.__name__}: expected all tensors on one device, "
                                       f"got {device} and {a._device}")
                arrays.append(a.data)
                needs.append(a.requires_grad)
            else:
                arrays.append(a)
                needs.append(False)
        if device is None:
            from nyang.device import get_device

            device = get_device()
        ctx = Context(cls, device)
        record = _grad.enabled and True in needs
        ctx.needs_input_grad = tuple(needs) if record else (False,) * len(needs)
        out = Tensor._wrap(cls.forward(ctx, *arrays, **options), ctx.__dict__.get("out_device", device))
        if record:
            ctx.next = tuple(None if not n else (a._node if a._node is not None else a)
                             for a, n in zip(args, needs))
            out.requires_grad = True
            out._node = ctx
        return out


class _NonDifferentiable(Function):
    """Marks ops whose output carries no gradient (comparisons, argmax)."""


def backward(root, gradient=None, retain_graph=False):
    """Back-propagate from tensor ``root``, accumulating into the leaves' ``.grad``."""
    xp = root._device.xp
    if not root.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no grad_fn; "
                           "set requires_grad=True on a leaf it depends on")
    if not root.dtype.is_floating_point:
        raise TypeError(f"backward: only floating-point tensors have gradients, got {root.dtype}")
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward: grad can be implicitly created only for scalar outputs; "
                               f"got shape {tuple(root.shape)}, pass gradient= of that shape")
        seed = xp.ones_like(root.data)
    else:
        if isinstance(gradient, Tensor):
            if gradient._device != root._device:
                raise RuntimeError(f"backward: gradient is on device {gradient._device}, expected the "
                                   f"tensor's device {root._device}")
            seed = gradient.data  # any dtype: cast to the tensor's below, as PyTorch does
        else:
            seed = xp.asarray(gradient, device=root._device.native)
        if tuple(seed.shape) != tuple(root.shape):
            raise ValueError(f"backward: gradient has shape {tuple(seed.shape)}, expected {tuple(root.shape)}")
        seed = xp.astype(seed, root.data.dtype, copy=True)
    if root._node is None:
        _accumulate(root, seed)
        return
    grads = {id(root._node): seed}
    for node in _topological_order(root._node):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node.next is None:
            raise RuntimeError(f"backward: trying to backward through the graph a second time "
                               f"(through {node.name()}); its saved values were freed by the first "
                               f"backward. Pass retain_graph=True to the first call if you need this.")
        retained = getattr(node, "retained", None)
        if retained is not None and retained() is not None:
            _accumulate(retained(), g)
        input_grads = node.function.backward(node, g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for parent, pg in zip(node.next, input_grads):
            if parent is None or pg is None:
                continue
            if isinstance(parent, Context):
                key = id(parent)
                previous = grads.get(key)
                grads[key] = pg if previous is None else previous + pg
            else:
                _accumulate(parent, pg)
        if not retain_graph:
            _free(node)


def _accumulate(leaf, g):
    if g.dtype != leaf.data.dtype:
        g = leaf._device.xp.astype(g, leaf.data.dtype)
    if leaf.grad is None:
        leaf.grad = Tensor._wrap(g, leaf._device)
    else:
        leaf.grad = Tensor._wrap(leaf.grad.data + g, leaf._device)


def _free(node):
    keep = {"function", "device", "xp", "kernels", "needs_input_grad"}
    for key in [k for k in node.__dict__ if k not in keep]:
        del node.__dict__[key]
    node.next = None


def _topological_order(root):
    """Nodes reachable from ``root``, each before all the nodes it depends on."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node.next or ():
            if isinstance(parent, Context) and id(parent) not in visited:
                stack.append((parent, False))
    order.reverse()
    return order


def grad(outputs, inputs, grad_outputs=None, retain_graph=False):
    """Gradients of ``outputs`` with respect to ``inputs`` (a list of tensors), as in
    ``torch.autograd.grad``; the inputs' ``.grad`` fields are left as they were."""
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    saved = [t.grad for t in inputs]
    for t in inputs:
        t.grad = None
    try:
        backward(outputs, grad_outputs, retain_graph=retain_graph)
        result = [t.grad for t in inputs]
    finally:
        for t, g in zip(inputs, saved):
            t.grad = g
    return result[0] if single else result


from nyang.tensor import Tensor  # noqa: E402  (Tensor's methods use Function)
