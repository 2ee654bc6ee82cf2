"""Function forms of the shape ops that take several tensors or return several."""
from nyang.functional._util import normalize_dim
from nyang.functional.shape import Concat, Pad, Stack


def cat(tensors, dim=0):
    """Concatenate ``tensors`` along existing dim ``dim`` (all other dims must match)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    dim = normalize_dim(dim, tensors[0].ndim, "cat")
    return Concat.apply(*tensors, dim=dim)


concat = cat


def stack(tensors, dim=0):
    """Stack same-shaped ``tensors`` along a new dim ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    dim = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    return Stack.apply(*tensors, dim=dim)


def split(tensor, split_size_or_sections, dim=0):
    """A tuple of views along ``dim``: pieces of ``split_size`` (the last may be smaller),
    or pieces of the sizes listed (which must add up to the dim's size)."""
    dim = normalize_dim(dim, tensor.ndim, "split")
    size = tensor.shape[dim]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got {step}")
        sections = [min(step, size - s) for s in range(0, size, step)] or [0]
    else:
        sections = list(split_size_or_sections)
        if sum(sections) != size:
            raise ValueError(f"split: sections {sections} add up to {sum(sections)}, expected {size} "
                             f"(the size of dim {dim})")
    lead = (slice(None),) * dim
    out, start = [], 0
    for n in sections:
        out.append(tensor[lead + (slice(start, start + n),)])
        start += n
    return tuple(out)


def chunk(tensor, chunks, dim=0):
    """Split into ``chunks`` pieces of ceil(size / chunks) (fewer when they run out)."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    dim = normalize_dim(dim, tensor.ndim, "chunk")
    size = tensor.shape[dim]
    return split(tensor, max(1, -(-size // chunks)), dim)


def pad(input, pad, mode="constant", value=0.0):
    """Pad with a constant; ``pad`` = (left, right) for the last dim, then
    (top, bottom) for the one before, and so on (PyTorch's order)."""
    if mode != "constant":
        raise ValueError(f"pad: mode {mode!r} is not supported; expected 'constant'")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: expected an even number of at most {2 * input.ndim} values, got {pad}")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative padding is not supported, got {pad}")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return Pad.apply(input, tuple(widths), value)
