"""Host batches to Tensors on the loader's device; on CUDA, optionally through pinned memory.

With ``pin_memory`` the arrays of batch k+1 are copied into page-locked host
buffers and sent to the GPU on a side stream while the caller computes on batch k;
the compute stream waits on the copy's event before it touches the batch. The
CUDA calls are the device's kernel module's (``new_stream``, ``current_stream``,
``pinned_empty``, ``to_device_async`` in ``backends/cupy_kernels.py``); streams and
events are used through their own methods (``record``, ``wait_event``,
``synchronize``).
"""
import numpy as np

from nyang.data.collate import map_arrays, to_tensors
from nyang.tensor import Tensor


def device_batches(host_batches, device, pin_memory):
    """Yield each host batch of ``host_batches`` as Tensors on ``device``."""
    if device.type == "cuda" and pin_memory:
        yield from _pinned(host_batches, device)
        return
    for batch in host_batches:
        yield to_tensors(batch, device)


def _stage(batch, device, copy_stream):
    """Start copying ``batch`` to the GPU on ``copy_stream``: (tensors, event, pinned buffers)."""
    kernels = device.kernels
    buffers = []

    def copy(array):
        """One array into pinned memory, then onto the GPU asynchronously."""
        array = np.asarray(array)
        staging = kernels.pinned_empty(array.shape, array.dtype)
        staging[...] = array
        buffers.append(staging)
        return Tensor._wrap(kernels.to_device_async(staging, copy_stream), device)

    with device.native:
        # the copy may overwrite memory that queued compute work has just freed: wait for that work
        copy_stream.wait_event(kernels.current_stream().record())
        tensors = map_arrays(batch, copy)
        return tensors, copy_stream.record(), buffers


def _pinned(host_batches, device):
    with device.native:
        copy_stream = device.kernels.new_stream()
    previous = None
    for batch in host_batches:
        staged = _stage(batch, device, copy_stream)
        if previous is not None:
            yield _ready(previous, device)
        previous = staged
    if previous is not None:
        yield _ready(previous, device)


def _ready(staged, device):
    tensors, event, buffers = staged
    with device.native:
        device.kernels.current_stream().wait_event(event)
    event.synchronize()  # the pinned buffers may go back to the pool only after the copy
    buffers.clear()
    return tensors
