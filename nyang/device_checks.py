"""Checks of values that live on a device, without a host synchronisation per call.

Reading a value from a GPU waits for all the work queued before it, so a check that
reads one (are the class indices in range?) would stall every training step. On such
a device the check is queued instead: its small result stays on the device and is
read, with every other queued one, at the next read from that device
(``Tensor.numpy``, ``.item``, ``float(loss)``), which raises the check's error there.
This is what PyTorch's device-side asserts do on CUDA: the error surfaces at the next
synchronisation, and the steps in between have run on the bad values.

On the CPU (and the other host-memory devices) reading costs nothing, so a check runs
at once and raises where the bad value went in.
"""
import threading

_QUEUE_LIMIT = 256  # checks queued per device before they are read anyway (bounds memory)
_queue = []  # (device, array, report), oldest first
_lock = threading.Lock()


def reading_synchronizes(device):
    """True where reading a value waits for the device's queued work (a CUDA GPU)."""
    return device.type == "cuda"


def check(device, array, report):
    """Call ``report(host_values)`` with ``array`` (a small array on ``device``) read as
    a NumPy array: now on host-memory devices, at the next read from ``device`` on a GPU.
    ``report`` raises the error when the values are wrong and returns otherwise."""
    if not reading_synchronizes(device):
        report(device.kernels.to_numpy(array))
        return
    with _lock:
        _queue.append((device, array, report))
        full = sum(1 for queued in _queue if queued[0] == device) >= _QUEUE_LIMIT
    if full:
        run_queued(device)


def run_queued(device):
    """Read and report every check queued for ``device``, oldest first (called before
    each read from it); the first failing check raises and the rest are dropped."""
    if not _queue:
        return
    with _lock:
        mine = [queued for queued in _queue if queued[0] == device]
        _queue[:] = [queued for queued in _queue if queued[0] != device]
    for _, array, report in mine:
        report(device.kernels.to_numpy(array))
