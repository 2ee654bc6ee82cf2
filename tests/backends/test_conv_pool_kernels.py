"""Convolution and pooling kernels: NumPy fast paths against the pure-standard
reference (run on array_api_strict, data on ``Device("device1")``) and both against
PyTorch.
"""
import numpy as np
import pytest

from backends import generic, numpy_kernels

torch = pytest.importorskip("torch")
F = torch.nn.functional

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.fixture(scope="module")
def sx():
    """array_api_strict pinned to 2024.12, with its test device."""
    import array_api_strict

    array_api_strict.set_array_api_strict_flags(api_version="2024.12")
    return array_api_strict


def _strict(sx, a):
    return sx.asarray(np.asarray(a), device=sx.Device("device1"))


def _host(a):
    return np.from_dlpack(a)


def _reference(sx, name, *arrays, **kwargs):
    """``generic.<name>`` on array_api_strict copies of ``arrays``, back as NumPy."""
    out = getattr(generic, name)(sx, *(_strict(sx, a) for a in arrays), **kwargs)
    return tuple(_host(o) for o in out) if isinstance(out, tuple) else _host(out)


def _values(kind, shape, dtype, seed=0):
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


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


# ---------------------------------------------------------------- im2col / col2im

# (x shape, kernel_size, stride, padding, dilation, groups)
CONV_CASES = [
    ((2, 3, 7, 8), (3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((1, 2, 9, 7), (3, 2), (2, 1), (1, 0), (1, 2), 1),
    ((3, 1, 6, 6), (1, 1), (1, 1), (0, 0), (1, 1), 1),
    ((2, 4, 10, 11), (5, 3), (3, 2), (2, 3), (1, 1), 2),
    ((1, 3, 5, 5), (2, 2), (2, 2), (0, 0), (2, 2), 1),
    ((2, 2, 8, 5), (3, 3), (2, 3), (2, 1), (2, 1), 2),
    ((2, 3, 4, 4), (4, 4), (1, 1), (3, 3), (1, 1), 3),
    ((1, 6, 3, 12), (1, 4), (1, 3), (0, 2), (1, 1), 3),
]
CONV_IDS = [f"{s}-k{k}-s{st}-p{p}-d{d}-g{g}" for s, k, st, p, d, g in CONV_CASES]


def _geometry(case):
    shape, k, s, p, d, g = case
    return shape, dict(kernel_size=k, stride=s, padding=p, dilation=d), g


def _conv_args(geo):
    return {name: value for name, value in geo.items() if name != "kernel_size"}


def _unfold_order(cols):
    """(N, OH, OW, G, kh, kw, C/G) columns as F.unfold's (N, C*kh*kw, OH*OW)."""
    n, oh, ow, g, kh, kw, cg = cols.shape
    return cols.transpose(0, 1, 2, 3, 6, 4, 5).reshape(n, oh * ow, -1).transpose(0, 2, 1)


def _channels_last(x):
    """``x`` as a view of channels-last (N, H, W, C) memory."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def _channels_innermost(a):
    return a.strides[1] == a.itemsize and a.strides[3] == a.shape[1] * a.itemsize


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_im2col_matches_reference_and_unfold(sx, case, dtype, layout):
    shape, geo, groups = _geometry(case)
    x = _values("randn", shape, dtype)
    cols = numpy_kernels.im2col(np, _channels_last(x) if layout == "nhwc" else x, **geo,
                                groups=groups)
    n, c = shape[:2]
    kh, kw = geo["kernel_size"]
    assert cols.dtype == dtype and cols.shape[0] == n and cols.shape[3:] == (groups, kh, kw, c // groups)
    # (N, OH, OW) and (kh, kw, C/G) merge without a copy: the GEMM reads the columns in place
    merged = cols.reshape(n * cols.shape[1] * cols.shape[2], groups, -1)
    assert np.shares_memory(merged, cols)
    assert cols.flags.c_contiguous or c // groups <= 4
    np.testing.assert_array_equal(cols, _reference(sx, "im2col", x, **geo, groups=groups))
    np.testing.assert_array_equal(_unfold_order(cols), F.unfold(_t(x), **geo).numpy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv_as_gemm_matches_torch(case, dtype):
    shape, geo, groups = _geometry(case)
    x = _values("randn", shape, dtype)
    out_channels = 2 * groups
    w = _values("randn", (out_channels, shape[1] // groups) + geo["kernel_size"], dtype, seed=1)
    cols = numpy_kernels.im2col(np, x, **geo, groups=groups)
    n, oh, ow = cols.shape[:3]
    w_g = w.transpose(0, 2, 3, 1).reshape(groups, out_channels // groups, -1)
    y = cols.reshape(n * oh * ow, groups, -1).transpose(1, 0, 2) @ w_g.transpose(0, 2, 1)
    y = y.transpose(1, 0, 2).reshape(n, oh, ow, out_channels).transpose(0, 3, 1, 2)
    expected = F.conv2d(_t(x), _t(w), **_conv_args(geo), groups=groups).numpy()
    np.testing.assert_allclose(y, expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_col2im_matches_reference_and_conv_input_grad(sx, case, dtype):
    shape, geo, groups = _geometry(case)
    x = _values("randn", shape, dtype)
    out_channels = 2 * groups
    w = _values("randn", (out_channels, shape[1] // groups) + geo["kernel_size"], dtype, seed=1)
    xt = _t(x).requires_grad_()
    y = F.conv2d(xt, _t(w), **_conv_args(geo), groups=groups)
    g = _values("randn", tuple(y.shape), dtype, seed=2)
    (expected,) = torch.autograd.grad(y, xt, _t(g))

    # Input gradient of the conv: per group, cols_grad = g (as rows) @ W_g, then col2im.
    n, _, oh, ow = g.shape
    g_rows = g.transpose(0, 2, 3, 1).reshape(-1, groups, out_channels // groups)
    w_g = w.transpose(0, 2, 3, 1).reshape(groups, out_channels // groups, -1)
    cols = (g_rows.transpose(1, 0, 2) @ w_g).transpose(1, 0, 2)
    cols = cols.reshape((n, oh, ow, groups) + geo["kernel_size"] + (shape[1] // groups,))
    dx = numpy_kernels.col2im(np, cols, shape, **geo)
    assert dx.shape == shape and dx.dtype == dtype
    np.testing.assert_array_equal(dx, _reference(sx, "col2im", cols, x_shape=shape, **geo))
    np.testing.assert_allclose(dx, expected.numpy(), **TOL[dtype])


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_col2im_matches_fold(case):
    shape, geo, groups = _geometry(case)
    x = _values("randn", shape, np.float64)
    cols = _values("randn", numpy_kernels.im2col(np, x, **geo, groups=groups).shape,
                   np.float64, seed=3)
    folded = F.fold(_t(_unfold_order(cols)), output_size=shape[2:], **geo).numpy()
    np.testing.assert_allclose(numpy_kernels.col2im(np, cols, shape, **geo), folded,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_im2col_col2im_are_adjoint(case):
    shape, geo, groups = _geometry(case)
    x = _values("randn", shape, np.float64)
    cols = numpy_kernels.im2col(np, x, **geo, groups=groups)
    c = _values("randn", cols.shape, np.float64, seed=4)
    lhs = np.sum(cols * c)
    rhs = np.sum(x * numpy_kernels.col2im(np, c, shape, **geo))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


def test_col2im_blocking(monkeypatch):
    x = _values("randn", (5, 6, 9, 8), np.float32)
    geo = dict(kernel_size=(3, 3), stride=(2, 1), padding=(1, 1), dilation=(1, 1))
    cols = numpy_kernels.im2col(np, x, **geo)
    expected = numpy_kernels.col2im(np, cols, x.shape, **geo)
    for block in (1, 3000, 30000):  # one image per block, then several
        monkeypatch.setattr(numpy_kernels, "_BLOCK", block)
        np.testing.assert_array_equal(numpy_kernels.col2im(np, cols, x.shape, **geo), expected)


def test_conv_argument_errors():
    x = np.zeros((1, 4, 3, 3), np.float32)
    for module in (numpy_kernels, generic):
        with pytest.raises(ValueError, match="output would be empty"):
            module.im2col(np, x, (5, 5), (1, 1), (0, 0), (1, 1))
        with pytest.raises(ValueError, match=r"stride=\(0, 1\)"):
            module.im2col(np, x, (1, 1), (0, 1), (0, 0), (1, 1))
        with pytest.raises(ValueError, match="groups=3"):
            module.im2col(np, x, (1, 1), (1, 1), (0, 0), (1, 1), groups=3)


# ---------------------------------------------------------------- pooling

# (x shape, kernel_size, stride, padding, dilation, ceil_mode)
POOL_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),   # the common 2x2/2
    ((2, 3, 9, 7), (2, 2), (2, 2), (0, 0), (1, 1), True),    # ceil overhang, no pad
    ((2, 3, 9, 7), (2, 2), (2, 2), (0, 0), (1, 1), False),   # floor: last row/column unread
    ((1, 2, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1), False),   # overlapping
    ((2, 1, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((1, 3, 10, 9), (3, 2), (2, 1), (1, 1), (1, 1), True),
    ((2, 2, 11, 10), (3, 3), (2, 3), (1, 0), (2, 1), True),  # dilation
    ((1, 1, 5, 5), (5, 5), (3, 3), (2, 2), (1, 1), True),
    ((2, 2, 6, 5), (2, 4), (1, 3), (1, 2), (1, 1), True),
    ((3, 2, 5, 6), (1, 1), (1, 1), (0, 0), (1, 1), False),
    ((1, 2, 6, 7), (2, 3), (3, 2), (1, 1), (1, 1), False),   # stride > kernel
    ((2, 2, 7, 6), (2, 2), (1, 1), (1, 0), (1, 1), False),
    ((1, 2, 20, 19), (17, 16), (3, 2), (8, 8), (1, 1), True),  # > 256: int32 argmax
]
POOL_IDS = [f"{s}-k{k}-s{st}-p{p}-d{d}-{'ceil' if c else 'floor'}"
            for s, k, st, p, d, c in POOL_CASES]
VALUE_KINDS = ["randn", "ties", "negative", "neg_inf", "nan"]


def _pool_geometry(case):
    shape, k, s, p, d, ceil = case
    return shape, dict(kernel_size=k, stride=s, padding=p, dilation=d), ceil


def _torch_indices(argmax, shape, geo):
    """Window offsets i*kw + j as PyTorch's flat input indices h*W + w."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (geo[k] for k in
                                              ("kernel_size", "stride", "padding",
                                               "dilation"))
    oh, ow = argmax.shape[2:]
    i, j = np.divmod(argmax.astype(np.int64), kw)
    h = np.arange(oh)[:, None] * sh - ph + i * dh
    w = np.arange(ow)[None, :] * sw - pw + j * dw
    return h * shape[3] + w


@pytest.mark.parametrize("kind", VALUE_KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_max_pool2d(sx, case, dtype, kind):
    shape, geo, ceil = _pool_geometry(case)
    x = _values(kind, shape, dtype)
    out, arg = numpy_kernels.max_pool2d(np, x, ceil_mode=ceil, **geo)
    k = geo["kernel_size"][0] * geo["kernel_size"][1]
    assert out.dtype == dtype and arg.dtype == (np.uint8 if k <= 256 else np.int32)
    ref_out, ref_arg = _reference(sx, "max_pool2d", x, ceil_mode=ceil, **geo)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(arg, ref_arg)
    assert ref_arg.dtype == arg.dtype

    xt = _t(x).requires_grad_()
    t_out, t_idx = F.max_pool2d(xt, ceil_mode=ceil, return_indices=True, **geo)
    np.testing.assert_array_equal(out, t_out.detach().numpy())
    np.testing.assert_array_equal(_torch_indices(arg, shape, geo), t_idx.numpy())

    g = _values("randn", out.shape, dtype, seed=5)
    dx = numpy_kernels.max_pool2d_backward(np, g, arg, shape, **geo)
    assert dx.shape == shape and dx.dtype == dtype
    np.testing.assert_array_equal(
        dx, _reference(sx, "max_pool2d_backward", g, arg, x_shape=shape, **geo))
    (expected,) = torch.autograd.grad(t_out, xt, _t(g))
    np.testing.assert_allclose(dx, expected.numpy(), **TOL[dtype])


def test_max_pool2d_nan_and_all_neg_inf_windows():
    nan, inf = np.nan, np.inf
    x = np.array([[[[1, nan, 5, 7],
                    [nan, 2, 6, 7],
                    [-inf, -inf, nan, 0],
                    [-inf, -inf, 0, 0]]]], np.float32)
    out, arg = numpy_kernels.max_pool2d(np, x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(out, [[[[nan, 7], [-inf, nan]]]])
    # the last NaN wins (PyTorch's CPU scan), ties go to the first maximum
    np.testing.assert_array_equal(arg, [[[[2, 1], [0, 0]]]])
    # a window of padding and -inf reports its first real element
    out, arg = numpy_kernels.max_pool2d(np, np.full((1, 1, 3, 3), -inf, np.float32),
                                        (2, 2), (2, 2), (1, 1), (1, 1), False)
    np.testing.assert_array_equal(arg, [[[[3, 2], [1, 0]]]])


# (x shape, kernel_size, stride, padding, ceil_mode)
AVG_CASES = [(s, k, st, p, c) for s, k, st, p, d, c in POOL_CASES if d == (1, 1)] + [
    ((1, 2, 8, 8), (3, 3), (3, 3), (1, 1), True),
    ((2, 1, 10, 7), (4, 3), (3, 2), (2, 1), True),
]
AVG_IDS = [f"{s}-k{k}-s{st}-p{p}-{'ceil' if c else 'floor'}" for s, k, st, p, c in AVG_CASES]


@pytest.mark.parametrize("divisor_override", [None, 3])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", AVG_CASES, ids=AVG_IDS)
def test_avg_pool2d(sx, case, dtype, count_include_pad, divisor_override):
    shape, k, s, p, ceil = case
    args = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil,
                count_include_pad=count_include_pad, divisor_override=divisor_override)
    x = _values("randn", shape, dtype)
    out = numpy_kernels.avg_pool2d(np, x, **args)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, _reference(sx, "avg_pool2d", x, **args),
                               rtol=1e-6, atol=1e-7)

    xt = _t(x).requires_grad_()
    t_out = F.avg_pool2d(xt, **args)
    np.testing.assert_allclose(out, t_out.detach().numpy(), **TOL[dtype])

    g = _values("randn", out.shape, dtype, seed=6)
    dx = numpy_kernels.avg_pool2d_backward(np, g, shape, **args)
    assert dx.shape == shape and dx.dtype == dtype
    np.testing.assert_allclose(
        dx, _reference(sx, "avg_pool2d_backward", g, x_shape=shape, **args),
        rtol=1e-6, atol=1e-7)
    (expected,) = torch.autograd.grad(t_out, xt, _t(g))
    np.testing.assert_allclose(dx, expected.numpy(), **TOL[dtype])


@pytest.mark.parametrize("module", [numpy_kernels, generic], ids=["numpy", "generic"])
def test_pool_argument_errors_match_torch(module):
    x = np.zeros((1, 1, 5, 5), np.float32)
    bad = [  # (kernel_size, stride, padding, dilation, message)
        ((3, 3), (1, 1), (2, 2), (1, 1), r"padding=\(2, 2\)"),  # pad > kernel // 2
        ((3, 3), (1, 1), (1, 2), (2, 2), r"padding=\(1, 2\)"),  # dilation does not help
        ((1, 1), (1, 1), (1, 0), (1, 1), r"padding=\(1, 0\)"),
        ((3, 3), (1, 1), (0, 0), (3, 3), "output would be empty"),
        ((0, 2), (1, 1), (0, 0), (1, 1), r"kernel_size=\(0, 2\)"),
        ((2, 2), (1, -1), (0, 0), (1, 1), r"stride=\(1, -1\)"),
        ((2, 2), (1, 1), (0, 0), (0, 1), r"dilation=\(0, 1\)"),
    ]
    for k, s, p, d, message in bad:
        with pytest.raises(ValueError, match=message):
            module.max_pool2d(np, x, k, s, p, d, False)
        with pytest.raises(RuntimeError):
            F.max_pool2d(_t(x), k, s, p, d, False)
        if d == (1, 1):
            with pytest.raises(ValueError, match=message):
                module.avg_pool2d(np, x, k, s, p, False, True, None)
    with pytest.raises(ValueError, match="divisor_override.*0"):
        module.avg_pool2d(np, x, (2, 2), (2, 2), (0, 0), False, True, 0)


def test_pooling_keeps_the_memory_layout():
    """Channels-last input gives channels-last output (and a channels-last grad_out a
    channels-last input gradient) with the same values."""
    x = _values("randn", (2, 5, 9, 8), np.float32)
    x_cl = _channels_last(x)
    geo = dict(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1))
    out, arg = numpy_kernels.max_pool2d(np, x, ceil_mode=True, **geo)
    out_cl, arg_cl = numpy_kernels.max_pool2d(np, x_cl, ceil_mode=True, **geo)
    assert _channels_innermost(out_cl) and _channels_innermost(arg_cl)
    np.testing.assert_array_equal(out_cl, out)
    np.testing.assert_array_equal(arg_cl, arg)
    for overlapping in (True, False):
        kwargs = geo if overlapping else dict(geo, stride=(3, 3))
        out, arg = numpy_kernels.max_pool2d(np, x, ceil_mode=False, **kwargs)
        g = _values("randn", out.shape, np.float32, seed=1)
        dx = numpy_kernels.max_pool2d_backward(np, g, arg, x.shape, **kwargs)
        dx_cl = numpy_kernels.max_pool2d_backward(np, _channels_last(g), _channels_last(arg), x.shape,
                                                  **kwargs)
        assert _channels_innermost(dx_cl)
        np.testing.assert_array_equal(dx_cl, dx)
    args = dict(kernel_size=(3, 2), stride=(2, 2), padding=(1, 1), ceil_mode=True,
                count_include_pad=False, divisor_override=None)
    avg = numpy_kernels.avg_pool2d(np, x, **args)
    avg_cl = numpy_kernels.avg_pool2d(np, x_cl, **args)
    assert _channels_innermost(avg_cl)
    np.testing.assert_array_equal(avg_cl, avg)
    dx = numpy_kernels.avg_pool2d_backward(np, avg, x.shape, **args)
    dx_cl = numpy_kernels.avg_pool2d_backward(np, _channels_last(avg), x.shape, **args)
    assert _channels_innermost(dx_cl)
    np.testing.assert_array_equal(dx_cl, dx)


def test_float16_keeps_dtype():
    import array_api_compat.numpy as cnp  # array_api_strict has no float16

    x = _values("randn", (2, 3, 7, 6), np.float16)
    geo = dict(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1))
    cols = numpy_kernels.im2col(np, x, **geo)
    assert cols.dtype == np.float16
    assert numpy_kernels.col2im(np, cols, x.shape, **geo).dtype == np.float16
    out, arg = numpy_kernels.max_pool2d(np, x, ceil_mode=True, **geo)
    ref_out, ref_arg = generic.max_pool2d(cnp, x, ceil_mode=True, **geo)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(arg, ref_arg)
    assert out.dtype == np.float16
    assert numpy_kernels.max_pool2d_backward(np, out, arg, x.shape, **geo).dtype == np.float16
    avg = numpy_kernels.avg_pool2d(np, x, (2, 2), (2, 2), (1, 1), True, False, None)
    assert avg.dtype == np.float16
    assert numpy_kernels.avg_pool2d_backward(np, avg, x.shape, (2, 2), (2, 2), (1, 1), True,
                                             False, None).dtype == np.float16


# ---------------------------------------------------------------- per-channel sums, ReLU, max-pool values

ROW_SHAPES = [(7, 3), (64, 1), (2048, 5), (4099, 32), (65536, 4)]  # below, at and past the block size


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ROW_SHAPES)
def test_channel_sums_match_reference_and_float64(sx, shape, dtype):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) + 0.5).astype(dtype)
    b = rng.standard_normal(shape).astype(dtype)
    exact_sum = a.astype(np.float64).sum(axis=0)
    exact_dot = (a.astype(np.float64) * b).sum(axis=0)
    for module, run in ((numpy_kernels, lambda name, *arrays: getattr(numpy_kernels, name)(np, *arrays)),
                        (generic, lambda name, *arrays: _reference(sx, name, *arrays))):
        total, dot = run("channel_sum", a), run("channel_dot", a, b)
        assert total.shape == dot.shape == (shape[1],) and total.dtype == dot.dtype == dtype
        scale = np.abs(a).astype(np.float64).sum(axis=0)
        np.testing.assert_allclose(total, exact_sum, rtol=0, atol=float(np.max(scale)) * TOL[dtype]["rtol"])
        np.testing.assert_allclose(dot, exact_dot, rtol=0,
                                   atol=float(np.max(np.abs(a * b.astype(np.float64)).sum(axis=0))) * TOL[dtype]["rtol"])


@pytest.mark.parametrize("shape", [(5, 3), (4096, 32), (4100, 32), (9, 1)])
@pytest.mark.parametrize("which", ["both", "scale", "shift", "none"])
def test_channel_affine_matches_reference(sx, shape, which):
    rng = np.random.default_rng(1)
    rows = rng.standard_normal(shape).astype(np.float32)
    scale = rng.standard_normal(shape[1]).astype(np.float32) if which in ("both", "scale") else None
    shift = rng.standard_normal(shape[1]).astype(np.float32) if which in ("both", "shift") else None
    expected = rows * (1.0 if scale is None else scale) + (0.0 if shift is None else shift)
    out = numpy_kernels.channel_affine(np, rows, scale, shift)
    assert out.shape == rows.shape and out.dtype == np.float32 and not np.shares_memory(out, rows)
    np.testing.assert_array_equal(out, expected)
    arrays = [a for a in (rows, scale, shift)]
    ref = generic.channel_affine(sx, *(None if a is None else _strict(sx, a) for a in arrays))
    np.testing.assert_array_equal(_host(ref), expected)
    for module, xp, wrap in ((numpy_kernels, np, lambda a: a), (generic, sx, lambda a: _strict(sx, a))):
        target = wrap(rows.copy())
        out = module.channel_affine(xp, target, *(None if a is None else wrap(a) for a in (scale, shift)),
                                    inplace=True)
        assert out is target
        np.testing.assert_array_equal(_host(target) if xp is sx else target, expected)


@pytest.mark.parametrize("dtype", DTYPES + [np.float16])
def test_relu_kernels_match_reference_and_torch(sx, dtype):
    x = _values("randn", (2, 3, 5, 4), dtype)
    x.flat[:6] = [0.0, -0.0, np.nan, -np.inf, np.inf, -1.0]
    g = _values("randn", x.shape, dtype, seed=1)
    g.flat[6:9] = [np.inf, -np.inf, np.nan]
    xt = _t(x).requires_grad_(True)
    torch.relu(xt).backward(_t(g))
    y, mask = numpy_kernels.relu(np, x)
    np.testing.assert_array_equal(y, torch.relu(_t(x)).numpy())
    for layout in (lambda a: a, _channels_last):
        dx = numpy_kernels.relu_backward(np, layout(g), layout(mask))
        assert dx.dtype == dtype
        np.testing.assert_array_equal(dx, xt.grad.numpy())
    if dtype != np.float16:  # array_api_strict has no float16
        ref_y, ref_mask = _reference(sx, "relu", x)
        np.testing.assert_array_equal(ref_y, y)
        np.testing.assert_array_equal(ref_mask, mask)
        np.testing.assert_array_equal(_reference(sx, "relu_backward", g, mask), xt.grad.numpy())


@pytest.mark.parametrize("kind", ["randn", "ties", "nan", "neg_inf"])
@pytest.mark.parametrize("case", [((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),
                                  ((2, 5, 9, 8), (3, 3), (2, 2), (1, 1), (1, 1), True),
                                  ((1, 2, 11, 10), (3, 2), (2, 3), (1, 1), (2, 1), False)])
def test_max_pool2d_values_is_max_pool2d_output(sx, case, kind):
    shape, k, s, p, d, ceil = case
    x = _values(kind, shape, np.float32)
    for source in (x, _channels_last(x)):
        expected = numpy_kernels.max_pool2d(np, source, k, s, p, d, ceil)[0]
        out = numpy_kernels.max_pool2d_values(np, source, k, s, p, d, ceil)
        np.testing.assert_array_equal(out, expected)
        assert _channels_innermost(out) == (source is not x)
    np.testing.assert_array_equal(_reference(sx, "max_pool2d_values", x, kernel_size=k, stride=s, padding=p,
                                             dilation=d, ceil_mode=ceil), expected)


def test_max_pool2d_backward_follows_the_forward_layout():
    """A channels-first grad_out (Flatten's backward) for a channels-last forward gives a
    channels-last input gradient with the same values."""
    x = _channels_last(_values("randn", (2, 4, 8, 6), np.float32))
    geo = dict(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1))
    out, arg = numpy_kernels.max_pool2d(np, x, ceil_mode=False, **geo)
    g = _values("randn", out.shape, np.float32, seed=2)  # channels-first
    dx = numpy_kernels.max_pool2d_backward(np, g, arg, x.shape, **geo)
    assert _channels_innermost(dx)
    xt = _t(x).requires_grad_(True)
    F.max_pool2d(xt, **geo).backward(_t(g))
    np.testing.assert_array_equal(dx, xt.grad.numpy())


@pytest.mark.parametrize("backend_name", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("case", [((5, 4, 7, 6), (6, 2, 3, 3), (1, 1), (1, 1), (1, 1), 2),
                                  ((5, 3, 9, 8), (4, 3, 3, 2), (2, 1), (1, 0), (1, 2), 1),
                                  ((5, 1, 8, 8), (3, 1, 5, 5), (1, 1), (2, 2), (1, 1), 1)])
def test_conv2d_in_blocks_of_images_matches_torch(monkeypatch, sx, backend_name, case):
    """Forward in blocks of 2 images (the last one short) and the weight gradient from
    columns recomputed block by block give PyTorch's results."""
    import array_api_compat.numpy as cnp

    import nyang
    from nyang.functional.conv import conv2d

    shape, w_shape, stride, padding, dilation, groups = case
    module, xp, device = ((numpy_kernels, cnp, "cpu") if backend_name == "numpy"
                          else (generic, sx, sx.Device("device1")))
    calls = []

    def blocks_of_two(xp, n, column_bytes, keep_columns):
        calls.append(keep_columns)
        return 2, False

    monkeypatch.setattr(module, "conv_blocking", blocks_of_two)
    x, w, b = (_values("randn", s, np.float32, seed=i) for i, s in enumerate((shape, w_shape, (w_shape[0],))))
    tensors = [nyang.tensor(xp.asarray(a, device=device), requires_grad=True) for a in (x, w, b)]
    out = conv2d(*tensors, stride=stride, padding=padding, dilation=dilation, groups=groups)
    torch_tensors = [_t(a).requires_grad_(True) for a in (x, w, b)]
    expected = F.conv2d(*torch_tensors, stride=stride, padding=padding, dilation=dilation, groups=groups)
    g = _values("randn", tuple(expected.shape), np.float32, seed=5)
    out.backward(nyang.tensor(xp.asarray(g, device=device)))
    expected.backward(_t(g))
    assert calls == [True]
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), **TOL[np.float32])
    for ours, theirs in zip(tensors, torch_tensors):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend_name", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("case", [((2, 32, 6, 5), (3, 32, 3, 3), (1, 1), (1, 1)),
                                  ((2, 32, 7, 7), (4, 32, 3, 2), (0, 1), (2, 1)),
                                  ((1, 40, 5, 6), (2, 40, 2, 3), (1, 2), (1, 1))])
def test_conv2d_input_gradient_as_a_convolution_matches_torch(sx, backend_name, case):
    """32+ input channels, stride 1: the input gradient runs as the convolution of the
    output gradient with the flipped kernel."""
    import array_api_compat.numpy as cnp

    import nyang
    from nyang.functional.conv import conv2d

    shape, w_shape, padding, dilation = case
    xp, device = (cnp, "cpu") if backend_name == "numpy" else (sx, sx.Device("device1"))
    x, w = _values("randn", shape, np.float32), _values("randn", w_shape, np.float32, seed=1)
    ours = [nyang.tensor(xp.asarray(a, device=device), requires_grad=True) for a in (x, w)]
    theirs = [_t(a).requires_grad_(True) for a in (x, w)]
    out = conv2d(*ours, padding=padding, dilation=dilation)
    expected = F.conv2d(*theirs, padding=padding, dilation=dilation)
    g = _values("randn", tuple(expected.shape), np.float32, seed=2)
    out.backward(nyang.tensor(xp.asarray(g, device=device)))
    expected.backward(_t(g))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours[0].grad.numpy(), theirs[0].grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours[1].grad.numpy(), theirs[1].grad.numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- convolution by kernel rows

# (x shape, kernel_size, padding, dilation): stride 1, one group, 16+ channels
ROW_CASES = [((2, 16, 7, 8), (3, 3), (1, 1), (1, 1)),
             ((3, 17, 9, 7), (3, 2), (1, 0), (1, 2)),
             ((1, 16, 6, 9), (2, 4), (0, 2), (2, 1)),
             ((2, 20, 5, 5), (1, 1), (0, 0), (1, 1))]
ROW_IDS = [f"{s}-k{k}-p{p}-d{d}" for s, k, p, d in ROW_CASES]


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("case", ROW_CASES, ids=ROW_IDS)
def test_row_columns_match_reference_and_im2col(sx, case, layout):
    shape, k, p, d = case
    x = _values("randn", shape, np.float32)
    z = numpy_kernels.row_columns(np, _channels_last(x) if layout == "nhwc" else x, k, p, d)
    np.testing.assert_array_equal(z, _reference(sx, "row_columns", x, kernel_size=k, padding=p, dilation=d))
    # kernel row i's operand is a slice of z, and the rows side by side are im2col's columns
    cols = numpy_kernels.im2col(np, x, k, (1, 1), p, d)
    n, oh, ow = cols.shape[:3]
    rows = [z[:, i * d[0] * ow:i * d[0] * ow + oh * ow] for i in range(k[0])]
    np.testing.assert_array_equal(np.stack(rows, axis=2), cols.reshape(n, oh * ow, k[0], -1))


def test_convolutions_by_rows_are_stride_one_single_group_wide_ones():
    by_rows = generic.conv_by_rows
    assert by_rows(np, (2, 16, 8, 8), (8, 16, 3, 3), (1, 1), 1)
    assert not by_rows(np, (2, 15, 8, 8), (8, 15, 3, 3), (1, 1), 1)  # too few channels
    assert not by_rows(np, (2, 32, 8, 8), (8, 32, 3, 3), (2, 1), 1)  # strided
    assert not by_rows(np, (2, 32, 8, 8), (8, 16, 3, 3), (1, 1), 2)  # grouped


@pytest.mark.parametrize("blocks", ["whole", "blocks of 2", "blocks of 2, kept"])
@pytest.mark.parametrize("backend_name", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("case", ROW_CASES, ids=ROW_IDS)
def test_conv2d_by_rows_matches_torch(monkeypatch, sx, backend_name, case, blocks):
    """Forward, input and weight gradients by kernel rows, on the whole batch or in blocks
    of 2 images (the last one short) with the columns kept or recomputed; 24 output
    channels, so the input gradient runs by rows too."""
    import array_api_compat.numpy as cnp

    import nyang
    from nyang.functional.conv import conv2d

    shape, k, padding, dilation = case
    module, xp, device = ((numpy_kernels, cnp, "cpu") if backend_name == "numpy"
                          else (generic, sx, sx.Device("device1")))
    if blocks != "whole":
        monkeypatch.setattr(module, "conv_blocking", lambda xp, n, column_bytes, keep: (2, keep and "kept" in blocks))
    w_shape = (24, shape[1], *k)
    x, w, b = (_values("randn", s, np.float32, seed=i) for i, s in enumerate((shape, w_shape, (24,))))
    tensors = [nyang.tensor(xp.asarray(a, device=device), requires_grad=True) for a in (x, w, b)]
    out = conv2d(*tensors, padding=padding, dilation=dilation)
    assert out.grad_fn.plan.by_rows
    torch_tensors = [_t(a).requires_grad_(True) for a in (x, w, b)]
    expected = F.conv2d(*torch_tensors, padding=padding, dilation=dilation)
    g = _values("randn", tuple(expected.shape), np.float32, seed=5)
    out.backward(nyang.tensor(xp.asarray(g, device=device)))
    expected.backward(_t(g))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    for ours, theirs in zip(tensors, torch_tensors):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- channels-first output

def test_convolutions_with_few_channels_return_channels_first_memory_on_numpy():
    first = numpy_kernels.conv_channels_first
    assert first(np, (64, 1, 28, 28), (6, 1, 5, 5), 1)  # LeNet's first convolution
    assert first(np, (2, 4, 8, 8), (15, 4, 3, 3), 1)
    assert not first(np, (2, 3, 8, 8), (16, 3, 3, 3), 1)  # enough output channels
    assert not first(np, (2, 5, 8, 8), (6, 5, 3, 3), 1)  # im2col's columns not K-major
    assert not first(np, (2, 4, 8, 8), (6, 2, 3, 3), 2)  # grouped
    assert not generic.conv_channels_first(np, (64, 1, 28, 28), (6, 1, 5, 5), 1)


# (x shape, O, kernel_size, stride, padding, dilation), at most 4 input channels
FIRST_CASES = [((3, 1, 12, 12), 6, (5, 5), (1, 1), (2, 2), (1, 1)),
               ((2, 3, 9, 8), 5, (3, 3), (2, 1), (1, 1), (1, 1)),
               ((3, 4, 7, 9), 7, (2, 3), (1, 2), (1, 0), (2, 1))]
FIRST_IDS = [f"{s}-o{o}-k{k}-s{st}-p{p}-d{d}" for s, o, k, st, p, d in FIRST_CASES]


@pytest.mark.parametrize("grads", ["all", "no input grad, no bias"])
@pytest.mark.parametrize("blocks", ["whole", "blocks of 2", "blocks of 2, kept"])
@pytest.mark.parametrize("backend_name", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("case", FIRST_CASES, ids=FIRST_IDS)
def test_conv2d_channels_first_matches_torch(monkeypatch, sx, backend_name, case, blocks, grads):
    """Forward, input, weight and bias gradients with a channels-first output, on the
    whole batch or in blocks of 2 images (the last one short), the columns kept or
    recomputed; the reference backend is routed there too."""
    import array_api_compat.numpy as cnp

    import nyang
    from nyang.functional.conv import conv2d

    shape, o, k, stride, padding, dilation = case
    module, xp, device = ((numpy_kernels, cnp, "cpu") if backend_name == "numpy"
                          else (generic, sx, sx.Device("device1")))
    monkeypatch.setattr(module, "conv_channels_first", lambda xp, x_shape, weight_shape, groups: True)
    if blocks != "whole":
        monkeypatch.setattr(module, "conv_blocking", lambda xp, n, column_bytes, keep: (2, keep and "kept" in blocks))
    arrays = [_values("randn", s, np.float32, seed=i) for i, s in enumerate((shape, (o, shape[1], *k), (o,)))]
    needs = [grads == "all", True, grads == "all"]
    if grads != "all":
        arrays[2] = None
    tensors = [None if a is None else nyang.tensor(xp.asarray(a, device=device), requires_grad=r)
               for a, r in zip(arrays, needs)]
    out = conv2d(*tensors, stride=stride, padding=padding, dilation=dilation)
    assert out.grad_fn.plan.channels_first
    if backend_name == "numpy":
        assert out.data.flags.c_contiguous  # (N, O, OH, OW) memory, not a permuted view
    torch_tensors = [None if a is None else _t(a).requires_grad_(r) for a, r in zip(arrays, needs)]
    expected = F.conv2d(*torch_tensors, stride=stride, padding=padding, dilation=dilation)
    g = _values("randn", tuple(expected.shape), np.float32, seed=5)
    out.backward(nyang.tensor(xp.asarray(g, device=device)))
    expected.backward(_t(g))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    for ours, theirs, r in zip(tensors, torch_tensors, needs):
        if ours is not None:
            assert (ours.grad is not None) == r
            if r:
                np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels, out_channels, route", [
    (16, 24, "as conv"),  # that convolution (24 -> 16 channels) runs by kernel rows
    (16, 8, "per offset"),  # 8 -> 16 channels: not by rows
    (32, 8, "as conv"),  # 32 or more input channels: as a convolution either way
    (8, 24, "per offset")])
def test_input_gradient_route(monkeypatch, channels, out_channels, route):
    """The input gradient of a stride-1 convolution runs as a convolution of the output
    gradient where that pays (``conv._input_grad``), and the result matches torch."""
    import nyang
    from nyang.functional import conv

    taken = []
    for name, label in (("_input_grad_as_conv", "as conv"), ("_input_grad_per_offset", "per offset")):
        original = getattr(conv, name)
        monkeypatch.setattr(conv, name, lambda *a, _f=original, _l=label: taken.append(_l) or _f(*a))
    x, w = (_values("randn", s, np.float32, seed=i)
            for i, s in enumerate(((2, channels, 6, 5), (out_channels, channels, 3, 3))))
    xn = nyang.tensor(x, requires_grad=True)
    conv.conv2d(xn, nyang.tensor(w), padding=1).sum().backward()
    xt = _t(x).requires_grad_(True)
    F.conv2d(xt, _t(w), padding=1).sum().backward()
    assert taken == [route]
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
