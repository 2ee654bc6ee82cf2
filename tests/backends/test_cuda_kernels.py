"""The CUDA kernels (``backends/cuda/*.cu`` driven by ``backends/cupy_kernels.py``)
against ``backends/numpy_kernels.py``, element by element.

Every check runs on two runners:

``host``  the same ``.cu`` sources compiled for the CPU (``tests/backends/cuda_host.py``)
          under a private copy of ``cupy_kernels`` whose one launch call plays the grid
          on the CPU: everything but CuPy and the GPU. Runs wherever there is a C++17
          compiler; float16 needs ``_Float16`` (GCC >= 12 / Clang on x86-64 and arm64).
``gpu``   the real ``cupy_kernels`` on CuPy arrays (marked ``cuda``: skipped without a GPU).

Copies and selections (im2col, max-pool values and argmax) must be equal exactly. Sums
(col2im, the pooling gradients, average pooling) are compared with numpy_kernels to a
tolerance, rtol 1e-6 for float32, because numpy_kernels is free to reorder its sums for
speed; they are also compared exactly with ``generic``, whose per-element order
(row-major kernel offsets, starting from zero) the kernels follow. float16 loads and
stores convert to float32 and compute there: its reference is the float32 computation
rounded to float16 once.

Also here: nyang's conv/pool layers forward and backward with their kernels swapped for
the host-compiled CUDA ones; every host test again under AddressSanitizer (no access
outside any buffer); nvcc compiles every instantiation for sm_90 with no spills
(skipped without nvcc); NVRTC compiles them as ``cupy.RawModule`` will (skipped without
libnvrtc; ``NYANG_NVRTC`` may point at one); the pinned-memory staging protocol on a
stand-in device; and the error for a CUDA device without CuPy.
"""
import contextlib
import math
import os
import re
import shutil
import subprocess
import sys

import array_api_compat.numpy as cnp
import numpy as np
import pytest

from backends import generic, numpy_kernels
from tests.backends import cuda_host

DTYPES = ["float16", "float32", "float64"]
SUM_RTOL = {"float16": 2.0 ** -10, "float32": 1e-6, "float64": 1e-13}


# ================================================================ runners


@pytest.fixture(scope="session")
def cache_dir(request, tmp_path_factory):
    """Where compiled kernels are kept between runs: ``$NYANG_CUDA_CACHE``, else pytest's
    cache, else a tmp dir."""
    if os.environ.get("NYANG_CUDA_CACHE"):
        return os.environ["NYANG_CUDA_CACHE"]
    cache = getattr(request.config, "cache", None)
    return cache.mkdir("nyang-cuda") if cache is not None else tmp_path_factory.mktemp("nyang-cuda")


class HostRunner:
    """The kernels compiled for the CPU, on NumPy arrays."""

    name = "host"

    def __init__(self, module):
        self.module = module
        self.xp = np

    def supports(self, dtype):
        return dtype != "float16" or self.module.host.has_half

    def put(self, a):
        return a

    def get(self, a):
        return np.asarray(a)


class GpuRunner:
    """The real ``cupy_kernels`` on CuPy arrays."""

    name = "gpu"

    def __init__(self):
        import array_api_compat.cupy as cxp
        import cupy

        from backends import cupy_kernels

        self.module = cupy_kernels
        self.xp = cxp
        self.cupy = cupy

    def supports(self, dtype):
        return True

    def put(self, a):
        return self.cupy.asarray(a)

    def get(self, a):
        return self.cupy.asnumpy(a)


@pytest.fixture(scope="session")
def host_runner(cache_dir):
    try:
        return HostRunner(cuda_host.host_cupy_kernels(cache_dir))
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session", params=["host", pytest.param("gpu", marks=pytest.mark.cuda)])
def runner(request):
    if request.param == "host":
        return request.getfixturevalue("host_runner")
    return GpuRunner()


def _skip_unsupported(runner, dtype):
    if not runner.supports(dtype):
        pytest.skip("the host compiler has no _Float16 for the __half stand-in")


# ================================================================ inputs


def _values(kind, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    if kind == "randn":
        x = rng.standard_normal(shape)
    elif kind == "ties":  # few distinct integers: many equal maxima
        x = rng.integers(-2, 3, size=shape).astype(float)
    elif kind == "negative":  # padding (-inf) must still never win
        x = -1.0 - np.abs(rng.standard_normal(shape))
    elif kind == "neg_inf":  # whole windows of -inf
        x = rng.standard_normal(shape)
        x[rng.random(shape) < 0.7] = -np.inf
    elif kind == "nan":
        x = rng.standard_normal(shape)
        x[rng.random(shape) < 0.15] = np.nan
    else:
        raise ValueError(kind)
    return x.astype(dtype)


LAYOUTS = ["nchw", "nhwc", "strided"]


def _laid_out(runner, a, layout):
    """``a`` (N, C, H, W) on the runner's backend: contiguous, a channels-last view, or a
    non-contiguous view with a negative stride (rows 2 apart, columns reversed)."""
    if layout == "nchw":
        return runner.put(a)
    if layout == "nhwc":
        return runner.put(np.ascontiguousarray(a.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)
    if layout == "strided":
        n, c, h, w = a.shape
        big = np.zeros((n, c, 2 * h, w + 2), a.dtype)
        big[:, :, ::2, w:0:-1] = a
        return runner.put(big)[:, :, ::2, w:0:-1]
    if layout == "broadcast":  # zero strides along H and W (a gradient of a sum)
        return runner.xp.broadcast_to(runner.put(np.ascontiguousarray(a[:, :, :1, :1])), a.shape)
    raise ValueError(layout)


def _broadcast_source(a):
    return np.broadcast_to(a[:, :, :1, :1], a.shape)


def _strides(a):
    return tuple(s // a.itemsize for s in a.strides)


def _is_channels_last(a):
    n, c, h, w = a.shape
    expected = 1
    for extent, stride in zip((c, w, h, n), np.array(_strides(a))[[1, 3, 2, 0]]):
        if extent != 1 and stride != expected:
            return False
        expected *= extent
    return True


def _is_c_contiguous(a):
    expected = 1
    for extent, stride in zip(reversed(a.shape), reversed(_strides(a))):
        if extent != 1 and stride != expected:
            return False
        expected *= extent
    return True


def _assert_layout(result, source):
    """numpy_kernels' rule: channels-last in, channels-last out; otherwise C-contiguous."""
    if _is_channels_last(source):
        assert _is_channels_last(result), (result.shape, result.strides)
    else:
        assert _is_c_contiguous(result), (result.shape, result.strides)


def _as_reference_dtype(a, dtype):
    """float16 sums are computed in float32 by the kernels: so is their reference."""
    return a.astype(np.float32) if dtype == "float16" else a


def _assert_sums(actual, expected_numpy, expected_generic, dtype, what):
    """Sums: close to numpy_kernels, equal to generic (same order; see the module doc)."""
    expected_numpy = expected_numpy.astype(dtype)
    expected_generic = np.asarray(expected_generic).astype(dtype)
    scale = max(1.0, float(np.max(np.abs(expected_numpy), initial=0.0)))
    np.testing.assert_allclose(actual, expected_numpy, rtol=SUM_RTOL[dtype], atol=SUM_RTOL[dtype] * scale,
                               err_msg=f"{what}: against numpy_kernels")
    np.testing.assert_array_equal(actual, expected_generic, err_msg=f"{what}: against generic (same order)")


# ================================================================ geometry


def _random_conv_cases(count, seed=1):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        groups = int(rng.integers(1, 4))
        shape = (int(rng.integers(1, 4)), groups * int(rng.integers(1, 4)),
                 int(rng.integers(1, 12)), int(rng.integers(1, 12)))
        k = tuple(int(v) for v in rng.integers(1, 5, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        p = tuple(int(v) for v in rng.integers(0, 4, 2))
        d = tuple(int(v) for v in rng.integers(1, 4, 2))
        try:
            generic.conv_geometry(shape, k, s, p, d)
        except ValueError:
            continue
        cases.append((shape, k, s, p, d, groups))
    return cases


# (x shape, kernel_size, stride, padding, dilation, groups)
CONV_CASES = [
    ((2, 3, 7, 8), (3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((1, 2, 9, 7), (3, 2), (2, 1), (1, 0), (1, 2), 1),
    ((3, 1, 6, 6), (1, 1), (1, 1), (0, 0), (1, 1), 1),
    ((2, 4, 10, 11), (5, 3), (3, 2), (2, 3), (1, 1), 2),
    ((2, 3, 4, 4), (4, 4), (1, 1), (3, 3), (1, 1), 3),   # windows all padding but one element
    ((1, 6, 3, 12), (1, 4), (1, 3), (0, 2), (1, 1), 3),
    ((4, 8, 16, 16), (3, 3), (1, 1), (1, 1), (1, 1), 1),  # > 8192 elements: grid-stride loops go round
] + _random_conv_cases(24)
CONV_IDS = [f"{s}-k{k}-s{st}-p{p}-d{d}-g{g}" for s, k, st, p, d, g in CONV_CASES]


def _random_pool_cases(count, seed=2):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 5)),
                 int(rng.integers(1, 13)), int(rng.integers(1, 13)))
        k = tuple(int(v) for v in rng.integers(1, 6, 2))
        s = tuple(int(v) for v in rng.integers(1, 5, 2))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        d = tuple(int(v) for v in rng.integers(1, 3, 2)) if rng.random() < 0.4 else (1, 1)
        ceil = bool(rng.random() < 0.5)
        try:
            generic.pool_geometry(shape, k, s, p, d, ceil)
        except ValueError:
            continue
        cases.append((shape, k, s, p, d, ceil))
    return cases


# (x shape, kernel_size, stride, padding, dilation, ceil_mode)
POOL_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),   # the common 2x2/2
    ((2, 3, 9, 7), (2, 2), (2, 2), (0, 0), (1, 1), True),    # ceil overhang, no padding
    ((1, 2, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1), False),   # overlapping windows
    ((1, 3, 10, 9), (3, 2), (2, 1), (1, 1), (1, 1), True),
    ((2, 2, 11, 10), (3, 3), (2, 3), (1, 0), (2, 1), True),  # dilation
    ((1, 1, 5, 5), (5, 5), (3, 3), (2, 2), (1, 1), True),
    ((1, 2, 6, 7), (2, 3), (3, 2), (1, 1), (1, 1), False),   # stride > kernel
    ((1, 2, 20, 19), (17, 16), (3, 2), (8, 8), (1, 1), True),  # > 256 offsets: int32 argmax
    ((4, 16, 24, 24), (3, 3), (2, 2), (1, 1), (1, 1), True),  # > 8192 elements
] + _random_pool_cases(24)
POOL_IDS = [f"{s}-k{k}-s{st}-p{p}-d{d}-{'ceil' if c else 'floor'}" for s, k, st, p, d, c in POOL_CASES]
AVG_CASES = [case for case in POOL_CASES if case[4] == (1, 1)]
AVG_IDS = [i for i, case in zip(POOL_IDS, POOL_CASES) if case[4] == (1, 1)]


def _conv(case):
    shape, k, s, p, d, groups = case
    return shape, dict(kernel_size=k, stride=s, padding=p, dilation=d), groups


def _pool(case):
    shape, k, s, p, d, ceil = case
    return shape, dict(kernel_size=k, stride=s, padding=p, dilation=d), ceil


# ================================================================ convolution


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_im2col(runner, case, dtype):
    _skip_unsupported(runner, dtype)
    shape, geo, groups = _conv(case)
    x = _values("randn", shape, dtype, seed=3)
    expected = numpy_kernels.im2col(np, x, **geo, groups=groups)
    for layout in LAYOUTS:
        cols = runner.module.im2col(runner.xp, _laid_out(runner, x, layout), **geo, groups=groups)
        assert cols.dtype == x.dtype and cols.shape == expected.shape and _is_c_contiguous(cols)
        np.testing.assert_array_equal(runner.get(cols), expected, err_msg=layout)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_col2im(runner, case, dtype):
    _skip_unsupported(runner, dtype)
    shape, geo, groups = _conv(case)
    cols_shape = numpy_kernels.im2col(np, np.zeros(shape, np.float32), **geo, groups=groups).shape
    cols = _values("randn", cols_shape, dtype, seed=4)
    ref = _as_reference_dtype(cols, dtype)
    expected = numpy_kernels.col2im(np, ref, shape, **geo)
    expected_generic = generic.col2im(cnp, ref, shape, **geo)
    # contiguous columns, and a non-contiguous view of the same values
    permuted = runner.put(np.ascontiguousarray(cols.transpose(6, 0, 1, 2, 3, 4, 5))).transpose(1, 2, 3, 4, 5, 6, 0)
    for name, source in (("contiguous", runner.put(cols)), ("strided", permuted)):
        dx = runner.module.col2im(runner.xp, source, shape, **geo)
        assert dx.dtype == cols.dtype and dx.shape == shape and _is_channels_last(dx)
        _assert_sums(runner.get(dx), expected, expected_generic, dtype, f"col2im {name}")


def test_conv_errors_match_generic(runner):
    x = runner.put(np.zeros((1, 4, 3, 3), np.float32))
    with pytest.raises(ValueError, match="output would be empty"):
        runner.module.im2col(runner.xp, x, (5, 5), (1, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match=r"stride=\(0, 1\)"):
        runner.module.im2col(runner.xp, x, (1, 1), (0, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="groups=3"):
        runner.module.im2col(runner.xp, x, (1, 1), (1, 1), (0, 0), (1, 1), groups=3)
    cols = runner.put(np.zeros((1, 3, 3, 1, 1, 1, 4), np.float32))
    with pytest.raises(ValueError, match=r"cols must have shape \(1, 2, 3, 1, 1, 1, 4\)"):
        runner.module.col2im(runner.xp, cols, (1, 4, 2, 3), (1, 1), (1, 1), (0, 0), (1, 1))


def test_other_dtypes_fall_back_to_generic(runner):
    x = np.arange(2 * 3 * 5 * 4, dtype=np.int32).reshape(2, 3, 5, 4)
    geo = dict(kernel_size=(2, 2), stride=(1, 2), padding=(1, 0), dilation=(1, 1))
    cols = runner.module.im2col(runner.xp, runner.put(x), **geo)
    np.testing.assert_array_equal(runner.get(cols), numpy_kernels.im2col(np, x, **geo))


# ================================================================ max pooling

KINDS = ["randn", "ties", "negative", "neg_inf", "nan"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_max_pool2d(runner, case, dtype, kind):
    _skip_unsupported(runner, dtype)
    shape, geo, ceil = _pool(case)
    x = _values(kind, shape, dtype, seed=5)
    expected, expected_arg = numpy_kernels.max_pool2d(np, x, ceil_mode=ceil, **geo)
    for layout in LAYOUTS:
        source = _laid_out(runner, x, layout)
        out, arg = runner.module.max_pool2d(runner.xp, source, ceil_mode=ceil, **geo)
        assert out.dtype == x.dtype and arg.dtype == expected_arg.dtype and out.shape == expected.shape
        _assert_layout(out, source)
        _assert_layout(arg, source)
        np.testing.assert_array_equal(runner.get(out), expected, err_msg=layout)
        np.testing.assert_array_equal(runner.get(arg), expected_arg, err_msg=layout)
        values = runner.module.max_pool2d_values(runner.xp, source, ceil_mode=ceil, **geo)
        np.testing.assert_array_equal(runner.get(values), expected, err_msg=f"values {layout}")

    # backward, from the argmax the kernel produced, with grad_out in every layout
    g = _values("randn", expected.shape, dtype, seed=6)
    arg = runner.module.max_pool2d(runner.xp, runner.put(x), ceil_mode=ceil, **geo)[1]
    for layout in LAYOUTS + ["broadcast"]:
        g_source = _broadcast_source(g) if layout == "broadcast" else g
        ref = _as_reference_dtype(np.ascontiguousarray(g_source), dtype)
        expected_dx = numpy_kernels.max_pool2d_backward(np, ref, expected_arg, shape, **geo)
        expected_generic = generic.max_pool2d_backward(cnp, ref, expected_arg, shape, **geo)
        g_source = _laid_out(runner, g, layout)
        dx = runner.module.max_pool2d_backward(runner.xp, g_source, arg, shape, **geo)
        assert dx.dtype == x.dtype and dx.shape == shape
        _assert_layout(dx, g_source)
        _assert_sums(runner.get(dx), expected_dx, expected_generic, dtype, f"max_pool2d_backward {layout}")


def test_max_pool2d_nan_and_all_neg_inf_windows(runner):
    nan, inf = np.nan, np.inf
    x = np.array([[[[1, nan, 5, 7],
                    [nan, 2, 6, 7],
                    [-inf, -inf, nan, 0],
                    [-inf, -inf, 0, 0]]]], np.float32)
    out, arg = runner.module.max_pool2d(runner.xp, runner.put(x), (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(runner.get(out), [[[[nan, 7], [-inf, nan]]]])
    # the last NaN wins (PyTorch's CPU scan), ties go to the first maximum
    np.testing.assert_array_equal(runner.get(arg), [[[[2, 1], [0, 0]]]])
    # a window of padding and -inf reports its first real element
    x = runner.put(np.full((1, 1, 3, 3), -inf, np.float32))
    out, arg = runner.module.max_pool2d(runner.xp, x, (2, 2), (2, 2), (1, 1), (1, 1), False)
    np.testing.assert_array_equal(runner.get(arg), [[[[3, 2], [1, 0]]]])
    np.testing.assert_array_equal(runner.get(out), np.full((1, 1, 2, 2), -inf))


def test_pool_errors_match_generic(runner):
    x = runner.put(np.zeros((1, 1, 5, 5), np.float32))
    bad = [((3, 3), (1, 1), (2, 2), (1, 1), r"padding=\(2, 2\)"),
           ((3, 3), (1, 1), (0, 0), (3, 3), "output would be empty"),
           ((0, 2), (1, 1), (0, 0), (1, 1), r"kernel_size=\(0, 2\)"),
           ((2, 2), (1, -1), (0, 0), (1, 1), r"stride=\(1, -1\)")]
    for k, s, p, d, message in bad:
        with pytest.raises(ValueError, match=message):
            runner.module.max_pool2d(runner.xp, x, k, s, p, d, False)
        if d == (1, 1):
            with pytest.raises(ValueError, match=message):
                runner.module.avg_pool2d(runner.xp, x, k, s, p, False, True, None)
    with pytest.raises(ValueError, match="divisor_override.*0"):
        runner.module.avg_pool2d(runner.xp, x, (2, 2), (2, 2), (0, 0), False, True, 0)
    g = runner.put(np.zeros((1, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"grad_out must have shape \(1, 1, 2, 2\)"):
        runner.module.avg_pool2d_backward(runner.xp, g, (1, 1, 5, 5), (2, 2), (2, 2), (0, 0), False, True, None)


# ================================================================ average pooling


@pytest.mark.parametrize("divisor_override", [None, 3])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", AVG_CASES, ids=AVG_IDS)
def test_avg_pool2d(runner, case, dtype, count_include_pad, divisor_override):
    _skip_unsupported(runner, dtype)
    shape, k, s, p, _, ceil = case
    args = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=count_include_pad,
                divisor_override=divisor_override)
    x = _values("randn", shape, dtype, seed=7)
    ref = _as_reference_dtype(x, dtype)
    expected = numpy_kernels.avg_pool2d(np, ref, **args)
    expected_generic = generic.avg_pool2d(cnp, ref, **args)
    for layout in LAYOUTS:
        source = _laid_out(runner, x, layout)
        out = runner.module.avg_pool2d(runner.xp, source, **args)
        assert out.dtype == x.dtype and out.shape == expected.shape
        _assert_layout(out, source)
        _assert_sums(runner.get(out), expected, expected_generic, dtype, f"avg_pool2d {layout}")

    g = _values("randn", expected.shape, dtype, seed=8)
    for layout in LAYOUTS + ["broadcast"]:
        g_ref = _as_reference_dtype(np.ascontiguousarray(_broadcast_source(g) if layout == "broadcast" else g),
                                    dtype)
        expected_dx = numpy_kernels.avg_pool2d_backward(np, g_ref, shape, **args)
        expected_generic = generic.avg_pool2d_backward(cnp, g_ref, shape, **args)
        g_source = _laid_out(runner, g, layout)
        dx = runner.module.avg_pool2d_backward(runner.xp, g_source, shape, **args)
        assert dx.dtype == x.dtype and dx.shape == shape
        _assert_layout(dx, g_source)
        _assert_sums(runner.get(dx), expected_dx, expected_generic, dtype, f"avg_pool2d_backward {layout}")


# ================================================================ inside nyang's layers

KERNEL_FUNCTIONS = ("im2col", "col2im", "max_pool2d", "max_pool2d_values", "max_pool2d_backward",
                    "avg_pool2d", "avg_pool2d_backward")


def _layers_case(name):
    import nyang

    nn = nyang.nn
    if name == "lenet":
        return nyang.models.lenet(1, 10, 28), (3, 1, 28, 28)
    # grouped and depthwise convolutions (the col2im path), ceil-mode average pooling
    # without padding counted, overlapping max pooling with padding, BatchNorm
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
        nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        nn.Conv2d(6, 6, 3, padding=1, groups=6), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1), nn.Conv2d(6, 4, 2, groups=2),
        nn.Flatten(), nn.Linear(4 * 3 * 3, 5),
    ), (2, 3, 13, 13)


@pytest.mark.parametrize("name", ["lenet", "mixed"])
def test_layers_give_the_same_results_with_the_cuda_kernels(host_runner, monkeypatch, name):
    """nyang's Conv2d/pooling layers, forward and backward, on the CPU device with its
    conv/pool kernels swapped for the CUDA ones (run on the host): the layouts and
    strides the layers hand the kernels, and take back, work."""
    import types

    import nyang

    cpu = nyang.device("cpu")
    hybrid = types.SimpleNamespace(**{k: getattr(numpy_kernels, k) for k in dir(numpy_kernels)
                                      if not k.startswith("__")})
    for function in KERNEL_FUNCTIONS:
        setattr(hybrid, function, getattr(host_runner.module, function))
    values_calls = []

    def max_pool2d_values(*args, **kwargs):
        values_calls.append(args[2:])
        return host_runner.module.max_pool2d_values(*args, **kwargs)

    hybrid.max_pool2d_values = max_pool2d_values

    def run():
        nyang.manual_seed(0)
        model, shape = _layers_case(name)
        x = nyang.tensor(_values("randn", shape, "float32", seed=11), requires_grad=True)
        y = nyang.tensor(np.arange(shape[0]) % 5)
        loss = nyang.nn.CrossEntropyLoss()(model(x), y)
        loss.backward()
        model.eval()
        with nyang.no_grad():  # inference: max_pool2d_values
            logits = model(x)
        return [loss.numpy(), x.grad.numpy(), logits.numpy()] + [p.grad.numpy() for p in model.parameters()]

    expected = run()
    host_runner.module.host.launches.clear()
    monkeypatch.setattr(cpu, "kernels", hybrid)
    actual = run()
    launched = {launch[0].split("<")[0] for launch in host_runner.module.host.launches}
    assert launched >= {"im2col", "max_pool2d", "max_pool2d_backward"}
    assert values_calls, "inference did not reach max_pool2d_values"
    if name == "mixed":
        assert launched >= {"col2im", "avg_pool2d", "avg_pool2d_backward"}
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)


# ================================================================ launches and compilation


def test_launch_shape():
    module = cuda_host.load_cupy_kernels()
    assert module.launch_shape(1, 132) == (1, 256)
    assert module.launch_shape(257, 132) == (2, 256)
    assert module.launch_shape(10 ** 9, 132) == (132 * 32, 256)
    assert module.THREADS == int(re.search(r"#define NYANG_THREADS (\d+)",
                                           (cuda_host.CUDA_DIR / "common.cuh").read_text()).group(1))


def test_every_instantiation_runs_on_the_host_with_cupys_argument_types(host_runner):
    module, host = host_runner.module, host_runner.module.host
    names = [n for d in cuda_host.DTYPES for n in module.name_expressions(d)]
    assert len(names) == len(set(names)) == 24
    expected = set(names) if host.has_half else {n for n in names if "__half" not in n}
    assert set(host.signatures) == expected
    for name, signature in host.signatures.items():
        assert set(signature) <= set("qefdBi"), (name, signature)  # pointers and long long only
    # a launch whose grid is smaller than the work: the grid-stride loops go round
    host.launches.clear()
    x = _values("randn", (4, 8, 16, 16), "float32", seed=9)
    cols = module.im2col(np, x, (3, 3), (1, 1), (1, 1), (1, 1))
    (name, blocks, threads, total), = host.launches
    assert name == "im2col<float>" and blocks * threads < total
    np.testing.assert_array_equal(cols, numpy_kernels.im2col(np, x, (3, 3), (1, 1), (1, 1), (1, 1)))


def test_index_arithmetic_past_32_bits(host_runner):
    """The kernels' divmod takes a 32-bit path when both operands fit and the 64-bit one
    otherwise (tensors of more than 2^32 elements: too big to run here)."""
    rng = np.random.default_rng(12)
    values = [(0, 1), (2 ** 32 - 1, 3), (2 ** 32, 3), (2 ** 32 + 5, 2 ** 32 + 7), (2 ** 62 + 12345, 1000003),
              (5, 2 ** 33)]
    values += [(int(a), int(b)) for a, b in zip(rng.integers(0, 2 ** 63 - 1, 200), rng.integers(1, 2 ** 40, 200))]
    values += [(int(a), int(b)) for a, b in zip(rng.integers(0, 2 ** 32, 200), rng.integers(1, 2 ** 16, 200))]
    for a, b in values:
        assert host_runner.module.host.divmod(a, b) == divmod(a, b), (a, b)


def test_source_inlines_the_header():
    module = cuda_host.load_cupy_kernels()
    text = module.source()
    assert "#include \"" not in text and "#pragma once" not in text
    assert text.count("__global__ void") >= 6


@pytest.mark.slow
def test_no_out_of_bounds_access_under_address_sanitizer(host_runner, cache_dir):
    """Every host test again, with the kernels built with -fsanitize=address in a Python
    that preloads libasan: any read or write outside a NumPy buffer (an index or stride
    slip that would read garbage on the GPU) aborts the run. About 20 s."""
    if os.environ.get("NYANG_HOST_SANITIZE"):
        pytest.skip("this is the sanitized run")
    compiler = cuda_host.find_cxx()
    libasan = subprocess.run([compiler, "-print-file-name=libasan.so"], capture_output=True,
                             text=True).stdout.strip()
    if not os.path.isabs(libasan) or not os.path.exists(libasan):
        pytest.skip(f"{compiler} has no libasan.so")
    env = {**os.environ, "NYANG_HOST_SANITIZE": "address", "NYANG_CUDA_CACHE": str(cache_dir),
           "ASAN_OPTIONS": "detect_leaks=0", "LD_PRELOAD": libasan}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__,
         "-k", "not gpu and not nvcc and not nvrtc and not sanitizer"],
        cwd=cuda_host.ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert " passed" in result.stdout and "AddressSanitizer" not in result.stderr


@pytest.fixture(scope="session")
def nvcc_build(cache_dir):
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not on PATH")
    return cuda_host.compile_with_nvcc(cache_dir, cuda_host.load_cupy_kernels())


def test_nvcc_compiles_every_instantiation_for_hopper(nvcc_build):
    """``nvcc -arch=sm_90 -std=c++17 -c``: every name expression instantiated, no
    register spills and no stack frame (``-Xptxas -v``). About 5 s the first time, then
    cached under a hash of the sources and nvcc's version."""
    path, log = nvcc_build
    assert path.exists() and path.stat().st_size > 0
    entries = re.findall(r"Compiling entry function '(\w+)' for 'sm_90'", log)
    assert len(entries) == 24, log
    for frame, stores, loads in re.findall(
            r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", log):
        assert (frame, stores, loads) == ("0", "0", "0"), log
    assert "error" not in log.lower()


@pytest.fixture(scope="session")
def nvrtc():
    library = cuda_host.find_nvrtc()
    if library is None:
        pytest.skip("no libnvrtc (CUDA toolkit, or the nvidia-cuda-nvrtc wheel; NYANG_NVRTC=path)")
    return library


def _cuda_include_dir():
    for root in filter(None, [os.environ.get("CUDA_PATH"), "/usr/local/cuda"]):
        if os.path.exists(os.path.join(root, "include", "cuda_fp16.h")):
            return os.path.join(root, "include")
    return None


@pytest.mark.parametrize("dtype", DTYPES)
def test_nvrtc_compiles_like_cupy_raw_module(nvrtc, dtype):
    """NVRTC with the options ``cupy.RawModule`` ends up passing: ours, CuPy's
    ``-I<CUDA>/include`` (where cuda_fp16.h is), ``--device-as-default-execution-space``,
    ``-ftz=true`` and ``-arch=sm_90``; every name expression must resolve."""
    module = cuda_host.load_cupy_kernels()
    include = _cuda_include_dir()
    if dtype == "float16" and include is None:
        pytest.skip("no CUDA include directory with cuda_fp16.h")
    options = module.compile_options(dtype) + ((f"-I{include}",) if include else ()) + (
        "--device-as-default-execution-space", "-ftz=true", "-arch=sm_90")
    names = module.name_expressions(dtype)
    lowered, _, size = cuda_host.compile_with_nvrtc(nvrtc, module.source(), options, names)
    assert set(lowered) == set(names) and size > 0
    assert all(mangled.startswith("_Z") for mangled in lowered.values())


# ================================================================ pinned-memory staging


class _FakeEvent:
    def __init__(self, log, name):
        self.log, self.name = log, name

    def synchronize(self):
        self.log.append(("synchronize", self.name))


class _FakeStream:
    def __init__(self, log, name):
        self.log, self.name, self.events = log, name, 0

    def record(self):
        self.events += 1
        event = _FakeEvent(self.log, f"{self.name}{self.events}")
        self.log.append(("record", event.name))
        return event

    def wait_event(self, event):
        self.log.append(("wait", self.name, event.name))


class _FakeKernels:
    """The staging entries of the kernel interface, on the host, logging every call."""

    def __init__(self, log):
        self.log = log
        self.compute = _FakeStream(log, "compute")

    def new_stream(self):
        self.log.append(("new_stream",))
        return _FakeStream(self.log, "copy")

    def current_stream(self):
        return self.compute

    def pinned_empty(self, shape, dtype):
        self.log.append(("pinned", tuple(shape), np.dtype(dtype).name))
        return np.empty(shape, dtype)

    def to_device_async(self, host, stream):
        self.log.append(("copy", stream.name))
        return host.copy()


class _FakeDevice:
    type = "cuda"

    def __init__(self, log):
        self.kernels = _FakeKernels(log)
        self.native = contextlib.nullcontext()


def test_pinned_staging_protocol():
    """Through the kernel interface: the copy stream waits for queued compute work, each
    batch is staged before the previous one is handed out, the compute stream waits for
    the copy's event, and pinned buffers are released only after the copy finished."""
    from nyang.data._staging import device_batches

    log = []
    device = _FakeDevice(log)
    batches = [(np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2])),
               (np.ones((2, 3), np.float32), np.array([3, 4]))]
    out = []
    for x, y in device_batches(iter(batches), device, pin_memory=True):
        log.append(("yield",))
        out.append((x, y))
    for (x, y), (ex, ey) in zip(out, batches):
        assert x.device is device and y.device is device
        np.testing.assert_array_equal(x.data, ex)
        np.testing.assert_array_equal(y.data, ey)
    assert log == [
        ("new_stream",),
        ("record", "compute1"), ("wait", "copy", "compute1"),  # batch 1 staged
        ("pinned", (2, 3), "float32"), ("copy", "copy"), ("pinned", (2,), "int64"), ("copy", "copy"),
        ("record", "copy1"),
        ("record", "compute2"), ("wait", "copy", "compute2"),  # batch 2 staged before batch 1 is out
        ("pinned", (2, 3), "float32"), ("copy", "copy"), ("pinned", (2,), "int64"), ("copy", "copy"),
        ("record", "copy2"),
        ("wait", "compute", "copy1"), ("synchronize", "copy1"), ("yield",),
        ("wait", "compute", "copy2"), ("synchronize", "copy2"), ("yield",),
    ]


def test_cuda_device_without_cupy_names_the_install(monkeypatch):
    import importlib

    devices = importlib.import_module("nyang.device")
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    monkeypatch.setattr(devices, "_DEVICES", {k: v for k, v in devices._DEVICES.items()
                                              if not k.startswith("cuda")})
    with pytest.raises(RuntimeError, match=r"CuPy is not installed.*pip install nyang\[cuda\]"):
        devices.device("cuda")


# ================================================================ on the GPU only


@pytest.mark.cuda
def test_gpu_kernels_are_compiled_once_per_dtype_and_device():
    import array_api_compat.cupy as cxp

    from backends import cupy_kernels

    x = cxp.asarray(_values("randn", (2, 3, 8, 8), "float32", seed=10))
    cupy_kernels.im2col(cxp, x, (3, 3), (1, 1), (1, 1), (1, 1))
    cupy_kernels.max_pool2d(cxp, x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    before = cupy_kernels._module.cache_info()
    cupy_kernels.im2col(cxp, x, (3, 3), (1, 1), (1, 1), (1, 1))
    cupy_kernels.avg_pool2d(cxp, x, (2, 2), (2, 2), (0, 0), False, True, None)
    cupy_kernels.col2im(cxp, cupy_kernels.im2col(cxp, x, (3, 3), (1, 1), (1, 1), (1, 1)), x.shape,
                        (3, 3), (1, 1), (1, 1), (1, 1))
    after = cupy_kernels._module.cache_info()
    assert after.misses == before.misses  # one module per (device, dtype), compiled once


@pytest.mark.cuda
def test_gpu_pinned_memory_round_trip():
    import cupy

    from backends import cupy_kernels

    host = cupy_kernels.pinned_empty((3, 4), np.float32)
    host[...] = np.arange(12, dtype=np.float32).reshape(3, 4)
    stream = cupy_kernels.new_stream()
    device_array = cupy_kernels.to_device_async(host, stream)
    stream.synchronize()
    np.testing.assert_array_equal(cupy.asnumpy(device_array), host)
    assert math.prod(cupy_kernels.pinned_empty((0, 5), np.float32).shape) == 0
