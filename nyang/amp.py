"""Mixed precision: ``autocast`` and ``GradScaler``, as ``torch.amp``.

Inside ``with nyang.amp.autocast():`` Linear, Conv2d and matmul run in float16
(their float32 inputs and weights are cast on the way in, so the weights stay
float32 "master" copies and receive float32 gradients through the cast), while
softmax, log-softmax and the losses take float16 inputs back to float32 before
reducing. Float16 gradients can underflow to zero, so ``GradScaler`` multiplies
the loss by a large factor before backward and divides the gradients by it
before the step, skipping steps whose gradients overflowed and adapting the
factor (PyTorch's defaults and rules). On NumPy float16 matmuls have no BLAS and
are slow: there this is for testing the logic; the speed is on the GPU.
"""
import math

from nyang import dtypes
from nyang.tensor import Tensor

_state = {"enabled": False, "dtype": dtypes.float16}


class autocast:
    """Context manager (and decorator) enabling mixed precision for the ops above."""

    def __init__(self, dtype="float16", enabled=True):
        self.dtype = dtypes.get(dtype)
        if self.dtype not in (dtypes.float16,):
            raise ValueError(f"autocast: dtype must be 'float16', got {dtype!r}")
        self.enabled = bool(enabled)

    def __enter__(self):
        self._previous = dict(_state)
        _state.update(enabled=self.enabled, dtype=self.dtype)
        return self

    def __exit__(self, *exc):
        _state.update(self._previous)

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.dtype, self.enabled):
                return fn(*args, **kwargs)

        return wrapper


def is_autocast_enabled():
    """True inside an enabled ``autocast``."""
    return _state["enabled"]


def low_precision(*tensors):
    """Under autocast, floating tensors cast to the autocast dtype (differentiably);
    otherwise the tensors unchanged. None passes through."""
    if not _state["enabled"]:
        return tensors
    target = _state["dtype"]
    return tuple(t if t is None or not t.dtype.is_floating_point or t.dtype is target else t.to(target)
                 for t in tensors)


def full_precision(*tensors):
    """Under autocast, float16 tensors cast back to float32 (for reductions); otherwise unchanged."""
    if not _state["enabled"]:
        return tensors
    return tuple(t.to(dtypes.float32) if isinstance(t, Tensor) and t.dtype is dtypes.float16 else t
                 for t in tensors)


class GradScaler:
    """Dynamic loss scaling for float16 training (``torch.amp.GradScaler``'s rules).

    ``scale(loss)`` multiplies by the current scale; ``step(optimizer)`` unscales the
    gradients (unless ``unscale_`` already did), skips the step when any gradient is
    inf or NaN, and otherwise steps; ``update()`` halves the scale after a skipped
    step (``backoff_factor``) and doubles it after ``growth_interval`` good steps in
    a row (``growth_factor``). ``enabled=False`` makes every method a pass-through.
    """

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        if not init_scale > 0:
            raise ValueError(f"GradScaler: init_scale must be positive, got {init_scale}")
        if not growth_factor > 1:
            raise ValueError(f"GradScaler: growth_factor must be > 1, got {growth_factor}")
        if not 0 < backoff_factor < 1:
            raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor}")
        if not (isinstance(growth_interval, int) and growth_interval > 0):
            raise ValueError(f"GradScaler: growth_interval must be a positive int, got {growth_interval}")
        self.growth_factor, self.backoff_factor, self.growth_interval = growth_factor, backoff_factor, growth_interval
        self.enabled = enabled
        self._scale = float(init_scale)
        self._growth_tracker = 0
        self._unscaled = {}  # id(optimizer) -> found_inf, for this iteration

    def get_scale(self):
        """The current scale factor (1.0 when disabled)."""
        return self._scale if self.enabled else 1.0

    def is_enabled(self):
        return self.enabled

    def scale(self, loss):
        """``loss * scale`` (the loss itself when disabled)."""
        return loss * self._scale if self.enabled else loss

    def unscale_(self, optimizer):
        """Divide the gradients of ``optimizer``'s parameters by the scale, in new
        arrays, and record whether any is inf or NaN. Call before clipping."""
        if not self.enabled:
            return
        if id(optimizer) in self._unscaled:
            raise RuntimeError("GradScaler.unscale_: already called for this optimizer since the last update()")
        inv_scale = float(_float32(1.0 / self._scale))  # PyTorch computes it in float64, stores float32
        finite = {}  # device -> one flag per gradient, kept on the device
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                xp = p.device.xp
                g = p.grad.data * inv_scale
                finite.setdefault(p.device, []).append(xp.all(xp.isfinite(g)))
                p.grad = Tensor._wrap(g, p.device)
        # one read per device (on a GPU a read waits for it), as PyTorch's step() does
        self._unscaled[id(optimizer)] = not all(
            bool(device.kernels.to_numpy(device.xp.all(device.xp.stack(flags)))) for device, flags in finite.items())

    def step(self, optimizer, *args, **kwargs):
        """Unscale if needed, then ``optimizer.step()`` unless a gradient overflowed;
        returns the step's result (None when skipped)."""
        if not self.enabled:
            return optimizer.step(*args, **kwargs)
        if id(optimizer) not in self._unscaled:
            self.unscale_(optimizer)
        if self._unscaled[id(optimizer)]:
            return None
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None):
        """Adapt the scale after this iteration's steps (or set ``new_scale``)."""
        if not self.enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale)
        else:
            if not self._unscaled:
                raise RuntimeError("GradScaler.update: no inf checks were recorded; call step() first")
            if any(self._unscaled.values()):
                self._scale = float(_float32(self._scale * self.backoff_factor))
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self.growth_interval:
                    self._scale = float(_float32(self._scale * self.growth_factor))
                    self._growth_tracker = 0
        self._unscaled = {}

    def state_dict(self):
        return {"scale": self._scale, "growth_factor": self.growth_factor, "backoff_factor": self.backoff_factor,
                "growth_interval": self.growth_interval, "_growth_tracker": self._growth_tracker} if self.enabled else {}

    def load_state_dict(self, state):
        if not state:
            return
        self._scale = float(state["scale"])
        self.growth_factor, self.backoff_factor = state["growth_factor"], state["backoff_factor"]
        self.growth_interval, self._growth_tracker = int(state["growth_interval"]), int(state["_growth_tracker"])


def _float32(value):
    """``value`` rounded to float32 (the scale is a float32 tensor in PyTorch)."""
    import struct

    return struct.unpack("f", struct.pack("f", value))[0] if math.isfinite(value) else value
