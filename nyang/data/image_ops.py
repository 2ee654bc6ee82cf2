"""Image arithmetic on the host: (C, H, W) float32 NumPy arrays in [0, 1].

Coordinates: pixel (row y, column x) has its centre at (x, y); the image spans
[-0.5, W - 0.5] x [-0.5, H - 0.5]. Resampling is inverse-mapped: each output pixel
asks where it comes from in the input and reads it bilinearly. Axis-aligned
resampling (resize, blur) is separable, so it is two small matrix products
``Ry @ image @ Rx.T`` that BLAS runs fast; rotations and affine maps gather the
four neighbours of each source point.
"""
import functools
import math

import numpy as np


def to_chw(image):
    """An image as a (C, H, W) float32 array.

    PIL images and uint8 arrays ((H, W) or (H, W, C)) are scaled by 1/255; float
    arrays are taken as (C, H, W) already (or (H, W), one channel)."""
    if type(image) is np.ndarray and image.dtype == np.float32 and image.ndim == 3:
        return image
    a = np.asarray(image)  # PIL images convert to (H, W[, C]) uint8 arrays
    if a.dtype == np.uint8:
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3:
            raise ValueError(f"to_chw: expected an (H, W) or (H, W, C) uint8 image, got shape {a.shape}")
        return np.multiply(a.transpose(2, 0, 1), np.float32(1 / 255), dtype=np.float32)
    if a.dtype.kind != "f":
        raise TypeError(f"to_chw: expected a PIL image, a uint8 (H, W, C) array or a float (C, H, W) array, "
                        f"got dtype {a.dtype}")
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"to_chw: expected a (C, H, W) float array, got shape {a.shape}")
    return a.astype(np.float32, copy=False)


@functools.lru_cache(maxsize=1024)
def resize_matrix(n_in, n_out, antialias=True):
    """(n_out, n_in) float32 weights of bilinear resampling with half-pixel centres.

    Upscaling reads the two nearest input pixels (as PyTorch's bilinear with
    ``align_corners=False``); downscaling with ``antialias`` widens the triangle
    filter by the scale factor (as PIL), so every input pixel contributes."""
    scale = n_in / n_out
    support = max(scale, 1.0) if antialias else 1.0
    centres = (np.arange(n_out) + 0.5) * scale
    weights = np.maximum(0.0, 1.0 - np.abs(np.arange(n_in)[None, :] + 0.5 - centres[:, None]) / support)
    empty = weights.sum(axis=1) == 0  # only possible without antialias: take the nearest pixel
    weights[empty, np.clip(np.floor(centres[empty]).astype(int), 0, n_in - 1)] = 1.0
    matrix = (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)
    matrix.flags.writeable = False  # cached and shared
    return matrix


def resize(image, size, antialias=True):
    """``image`` (C, H, W) resampled to ``size`` = (h, w)."""
    _, height, width = image.shape
    h, w = size
    out = image
    if h != height:
        out = np.matmul(resize_matrix(height, h, antialias), out)
    if w != width:
        out = np.matmul(out, resize_matrix(width, w, antialias).T)
    return out if out is not image else image.copy()


def _reflect(index, n):
    """Indices mirrored into [0, n) without repeating the edge (``numpy.pad`` 'reflect')."""
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    index = np.abs(index) % period
    return np.where(index >= n, period - index, index)


def convolution_matrix(n, kernel):
    """(n, n) matrix applying the 1-D ``kernel`` (odd length) along an axis of length
    ``n`` with reflected borders."""
    radius = len(kernel) // 2
    rows = np.repeat(np.arange(n), len(kernel))
    cols = _reflect(rows + np.tile(np.arange(len(kernel)) - radius, n), n)
    matrix = np.zeros((n, n), np.float64)
    np.add.at(matrix, (rows, cols), np.tile(kernel, n))
    return matrix.astype(np.float32)


def gaussian_kernel(size, sigma):
    """The normalised 1-D Gaussian of odd length ``size``."""
    x = np.arange(size) - (size - 1) / 2
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(image, kernel_size, sigma):
    """``image`` (C, H, W) blurred with a Gaussian of ``kernel_size`` = (kh, kw) and
    ``sigma`` = (sy, sx), reflecting at the borders."""
    _, height, width = image.shape
    ky = convolution_matrix(height, gaussian_kernel(kernel_size[0], sigma[0]))
    kx = convolution_matrix(width, gaussian_kernel(kernel_size[1], sigma[1]))
    return np.matmul(np.matmul(ky, image), kx.T)


@functools.lru_cache(maxsize=64)
def _pixel_grid(height, width):
    """(3, H * W) homogeneous coordinates (x, y, 1) of every pixel, row by row."""
    ys, xs = np.mgrid[0:height, 0:width].reshape(2, -1)
    grid = np.stack([xs, ys, np.ones_like(xs)]).astype(np.float64)
    grid.flags.writeable = False  # cached and shared
    return grid


def warp_affine(image, inverse, fill=0.0):
    """``image`` (C, H, W) warped by an affine map, same size.

    ``inverse`` (2, 3) maps an output pixel (x, y, 1) to its source point in the
    input; points outside the input read ``fill`` (a number or one per channel)."""
    channels, height, width = image.shape
    # a one-pixel border of fill lets every tap read in bounds: source points are
    # clamped into the border, where bilinear weights blend image and fill
    padded = np.empty((channels, height + 2, width + 2), np.float32)
    padded[...] = np.asarray(fill, np.float32).reshape(-1, 1, 1)
    padded[:, 1:-1, 1:-1] = image
    pixels = padded.reshape(channels, -1)
    sx, sy = np.asarray(inverse, np.float64) @ _pixel_grid(height, width)
    sx = np.clip(sx, -1.0, width)
    sy = np.clip(sy, -1.0, height)
    x0 = np.minimum(np.floor(sx), width - 1)
    y0 = np.minimum(np.floor(sy), height - 1)
    fx, fy = (sx - x0).astype(np.float32), (sy - y0).astype(np.float32)
    stride = width + 2
    top_left = ((y0 + 1) * stride + (x0 + 1)).astype(np.intp)
    t00, t01 = np.take(pixels, top_left, axis=1), np.take(pixels, top_left + 1, axis=1)
    t10, t11 = np.take(pixels, top_left + stride, axis=1), np.take(pixels, top_left + stride + 1, axis=1)
    # (1 - f) a + f b, not a + f (b - a): exact at f = 0 and at f = 1
    gx = 1 - fx
    top = t00 * gx + t01 * fx
    bottom = t10 * gx + t11 * fx
    return (top * (1 - fy) + bottom * fy).reshape(channels, height, width)


def affine_matrix(center, angle=0.0, translate=(0.0, 0.0), scale=1.0, shear=(0.0, 0.0)):
    """The forward affine map in pixel coordinates as ((a, b, tx), (c, d, ty)): shear
    (degrees, x then y), scale and rotate (degrees, counter-clockwise on screen)
    about ``center`` = (cx, cy), then translate by (tx, ty) pixels."""
    cx, cy = center
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    kx, ky = math.tan(math.radians(shear[0])), math.tan(math.radians(shear[1]))
    # linear part: scale * rotation @ shear_y @ shear_x, where y points down, so a
    # counter-clockwise turn on screen is [[cos, sin], [-sin, cos]]
    m00, m01, m10, m11 = 1.0, kx, ky, ky * kx + 1.0
    a, b = scale * (cos * m00 + sin * m10), scale * (cos * m01 + sin * m11)
    c, d = scale * (cos * m10 - sin * m00), scale * (cos * m11 - sin * m01)
    return ((a, b, cx + translate[0] - (a * cx + b * cy)),
            (c, d, cy + translate[1] - (c * cx + d * cy)))


def invert_affine(matrix):
    """The inverse of an affine map ((a, b, tx), (c, d, ty)), as a (2, 3) array."""
    (a, b, tx), (c, d, ty) = matrix
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    return np.array([[ia, ib, -(ia * tx + ib * ty)], [ic, id_, -(ic * tx + id_ * ty)]])


def grayscale(image):
    """(1, H, W) luma of an RGB image (ITU-R 601: 0.299 R + 0.587 G + 0.114 B);
    a one-channel image is returned as is."""
    if image.shape[0] == 1:
        return image
    r, g, b = image[0], image[1], image[2]
    return (np.float32(0.299) * r + np.float32(0.587) * g + np.float32(0.114) * b)[None]


def clip01(x):
    """``x`` clipped to [0, 1] in place (two ufuncs: cheaper than ``np.clip`` on small images)."""
    np.maximum(x, 0.0, out=x)
    return np.minimum(x, 1.0, out=x)


def mean_luma(image):
    """The mean of :func:`grayscale` over the image (a float)."""
    means = image.reshape(image.shape[0], -1).mean(axis=1)
    return float(means[0]) if image.shape[0] == 1 else float(means[:3] @ _LUMA)


_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def blend(image, other, factor):
    """``factor * image + (1 - factor) * other``, clipped to [0, 1]."""
    return clip01(np.float32(factor) * image + np.float32(1 - factor) * other)


def adjust_hue(image, shift):
    """(3, H, W) RGB in [0, 1] with every hue turned by ``shift`` (a fraction of the
    colour circle), saturation and value kept: HSV -> RGB of (h + shift, s, v)."""
    high, low = image.max(axis=0), image.min(axis=0)
    span = high - low
    # hue in sixths of the circle: which channel is largest, then where between its neighbours
    across = (image[_NEXT] - image[_PREVIOUS]) / np.where(span > 0, span, 1.0)
    sixths = np.where(high == image[0], across[0], np.where(high == image[1], 2.0 + across[1], 4.0 + across[2]))
    # channel c = v - (v s) clip(min(k, 4 - k), 0, 1), k = (n_c + 6 h) mod 6, n = (5, 3, 1), v s = span
    k = _HSV_OFFSETS + (sixths + np.float32(6.0 * shift))
    k -= 6.0 * np.floor(k * np.float32(1 / 6))
    return (high - span * clip01(np.minimum(k, 4.0 - k))).astype(np.float32, copy=False)


_NEXT, _PREVIOUS = [1, 2, 0], [2, 0, 1]  # (g - b, b - r, r - g) for channels (r, g, b)
_HSV_OFFSETS = np.array([5.0, 3.0, 1.0], np.float32).reshape(3, 1, 1)
