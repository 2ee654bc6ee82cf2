"""``nyang.cuda``: is a GPU usable here?"""


def is_available():
    """True when CuPy is installed and at least one CUDA GPU is visible."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def device_count():
    """The number of visible CUDA GPUs (0 without CuPy or a driver)."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount()
    except Exception:
        return 0
