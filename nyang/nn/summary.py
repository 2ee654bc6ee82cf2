"""``summary``: a model's layers, output shapes and parameter counts as a table."""
import builtins

from nyang import dtypes
from nyang.autograd import no_grad
from nyang.creation import zeros
from nyang.tensor import Tensor

MB = 1e6


def _tensors(value):
    """The Tensors in a module's output (a Tensor, or nested tuples/lists/dicts of them)."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def _shape_text(value):
    shapes = [str(list(t.shape)) for t in _tensors(value)]
    return ", ".join(shapes) if shapes else "--"


def _param_text(module):
    params = [p for p in module._parameters.values() if p is not None]
    if not params:
        return "--"
    count = sum(p.numel() for p in params)
    frozen = sum(p.numel() for p in params if not p.requires_grad)
    if frozen == 0:
        return f"{count:,}"
    return f"{count:,} (frozen)" if frozen == count else f"{count:,} ({frozen:,} frozen)"


def _defaults(model, device, dtype):
    """The device and float dtype of the model's first parameter (or buffer), unless given."""
    tensors = list(model.parameters()) + list(model.buffers())
    if device is None and tensors:
        device = tensors[0].device
    if dtype is None:
        dtype = next((t.dtype for t in tensors if t.dtype.is_floating_point), dtypes.float32)
    return device, dtype


def summary(model, input_size, batch_size=1, device=None, dtype=None, print=True):
    """Describe ``model`` by running one forward pass on zeros of shape
    (batch_size, *input_size) (``input_size`` such as (1, 28, 28), or a list of them
    for a model taking several inputs), in eval mode and under no_grad, with forward
    hooks recording every module's output.

    One row per module, depth first (names indented by depth): the module's output
    shape and the number of parameters registered on it directly ("(frozen)" when they
    do not require grad). Then total, trainable and non-trainable parameters, and
    memory estimates in MB (10^6 bytes): the input, the forward activations (the sum of
    the leaf modules' output sizes, every call counted), the parameters, and their
    total. ``device`` and ``dtype`` default to those of the model's parameters. Prints
    the table unless ``print=False``; returns it as text. The model's train/eval modes
    are restored afterwards and its hooks removed.
    """
    sizes = [input_size] if input_size and isinstance(input_size[0], int) else list(input_size)
    for size in sizes:
        if not all(isinstance(s, int) and s > 0 for s in size):
            raise ValueError(f"summary: input_size must be a tuple of positive ints (without the batch "
                             f"dimension) or a list of them, got {input_size!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"summary: batch_size must be a positive int, got {batch_size!r}")
    device, dtype = _defaults(model, device, dtype)
    inputs = [zeros(batch_size, *size, dtype=dtype, device=device) for size in sizes]

    modules = list(model.named_modules())
    outputs, activation_bytes = {}, [0]

    def record(module, args, output):
        outputs[id(module)] = output
        if not module._modules:
            activation_bytes[0] += sum(t.numel() * t.dtype.itemsize for t in _tensors(output))

    modes = [(m, m.training) for _, m in modules]
    handles = [m.register_forward_hook(record) for _, m in modules]
    try:
        model.eval()
        with no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
        for m, mode in modes:
            m.__dict__["training"] = mode

    rows = [("Layer (type)", "Output shape", "Param #")]
    for name, m in modules:
        label = type(m).__name__ if not name else "  " * (name.count(".") + 1) + f"{name} ({type(m).__name__})"
        rows.append((label, _shape_text(outputs.get(id(m))), _param_text(m)))
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    input_mb = sum(t.numel() * t.dtype.itemsize for t in inputs) / MB
    activation_mb = activation_bytes[0] / MB
    param_mb = sum(p.numel() * p.dtype.itemsize for p in params) / MB

    widths = [max(len(r[i]) for r in rows) + 4 for i in range(2)]
    lines = [f"{a:<{widths[0]}}{b:<{widths[1]}}{c}" for a, b, c in rows]
    width = max(len(line) for line in lines)
    rule, double = "-" * width, "=" * width
    text = "\n".join([rule, lines[0], double, *lines[1:], double,
                      f"Total params: {total:,}",
                      f"Trainable params: {trainable:,}",
                      f"Non-trainable params: {total - trainable:,}",
                      rule,
                      f"Input size (MB): {input_mb:.2f}",
                      f"Forward activations (MB): {activation_mb:.2f}",
                      f"Params size (MB): {param_mb:.2f}",
                      f"Estimated total size (MB): {input_mb + activation_mb + param_mb:.2f}",
                      rule])
    if print:
        builtins.print(text)
    return text
