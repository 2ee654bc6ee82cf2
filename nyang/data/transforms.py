"""Per-sample transforms and augmentation, on the CPU, PyTorch-shaped.

Every transform takes one image and returns a (C, H, W) float32 NumPy array. An
image is a PIL image or a uint8 (H, W, C) array (as ``ImageFolder`` loads them;
scaled to [0, 1]), or a float (C, H, W) array (taken as it is). Batch-level mixing
(:class:`Mixup`, :class:`CutMix`) lives in ``nyang.data.mixing`` and is re-exported here.

Random transforms take ``generator=`` (a CPU :class:`nyang.Generator`; default: one
seeded from ``nyang.manual_seed``). Inside a :class:`~nyang.data.DataLoader` they
draw from the per-sample generator instead, so the augmentation of a sample does
not depend on which worker ran it (see ``nyang.data.seeding``).

>>> train_transform = Compose([ToTensor(), RandomResizedCrop(32, scale=(0.8, 1.0)),
...                            RandomHorizontalFlip(), Normalize([0.5] * 3, [0.25] * 3)])
>>> eval_transform = Compose([ToTensor(), Resize(32), Normalize([0.5] * 3, [0.25] * 3)])
"""
import math
import numbers

import numpy as np

from nyang.data import image_ops
from nyang.data.mixing import CutMix, Mixup  # noqa: F401  (batch-level, re-exported)
from nyang.data.seeding import generator_for, lerp, new_generator, uniform, uniforms


def _pair(value, name):
    """An int or an (h, w) pair of positive ints as (h, w)."""
    pair = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and v > 0 for v in pair):
        raise ValueError(f"{name}: expected a positive int or an (h, w) pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _range(value, name, center=0.0, low_bound=-math.inf):
    """A number v as (center - v, center + v), or a (low, high) pair, as floats."""
    if isinstance(value, numbers.Real):
        if value < 0:
            raise ValueError(f"{name}: expected a non-negative number or a (low, high) pair, got {value!r}")
        low, high = center - value, center + value
    else:
        low, high = (float(v) for v in value)
    low = max(low, low_bound)
    if low > high:
        raise ValueError(f"{name}: the range {value!r} is empty")
    return float(low), float(high)


def _probability(p, name):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: p must be in [0, 1], got {p!r}")
    return float(p)


class Compose:
    """Apply ``transforms`` one after another."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, image):
        for transform in self.transforms:
            image = transform(image)
        return image

    def __repr__(self):
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class ToTensor:
    """PIL image or uint8 (H, W, C) array -> (C, H, W) float32 in [0, 1].

    Returns a NumPy array (the DataLoader makes Tensors of whole batches); the name
    is PyTorch's. Float (C, H, W) arrays pass through."""

    def __call__(self, image):
        return image_ops.to_chw(image)

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """``(image - mean[c]) / std[c]`` per channel; image (C, H, W)."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(-1, 1, 1)
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std must not contain 0, got {std!r}")

    def __call__(self, image):
        image = image_ops.to_chw(image)
        if len(self.mean) not in (1, image.shape[0]) or len(self.std) not in (1, image.shape[0]):
            raise ValueError(f"Normalize: {len(self.mean)} means and {len(self.std)} stds for an image of "
                             f"{image.shape[0]} channels")
        return (image - self.mean) / self.std

    def __repr__(self):
        return f"Normalize(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"


class Resize:
    """Resample to ``size``: an (h, w) pair, or an int for the shorter side (the
    aspect ratio kept). Bilinear; antialiased when shrinking."""

    def __init__(self, size, antialias=True):
        self.size = size if isinstance(size, numbers.Integral) else _pair(size, "Resize: size")
        if isinstance(self.size, numbers.Integral) and self.size <= 0:
            raise ValueError(f"Resize: size must be positive, got {size!r}")
        self.antialias = antialias

    def _target(self, height, width):
        if not isinstance(self.size, numbers.Integral):
            return self.size
        if height <= width:
            return self.size, int(self.size * width / height)
        return int(self.size * height / width), self.size

    def __call__(self, image):
        image = image_ops.to_chw(image)
        return image_ops.resize(image, self._target(*image.shape[1:]), self.antialias)

    def __repr__(self):
        return f"Resize({self.size})"


def _crop(image, top, left, height, width):
    """The (C, height, width) window at (top, left), zero outside the image."""
    channels, full_h, full_w = image.shape
    if top >= 0 and left >= 0 and top + height <= full_h and left + width <= full_w:
        return image[:, top:top + height, left:left + width]
    out = np.zeros((channels, height, width), image.dtype)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + height, full_h), min(left + width, full_w)
    out[:, y0 - top:y1 - top, x0 - left:x1 - left] = image[:, y0:y1, x0:x1]
    return out


class CenterCrop:
    """The central ``size`` window (int or (h, w)); zero-padded when the image is smaller."""

    def __init__(self, size):
        self.size = _pair(size, "CenterCrop: size")

    def __call__(self, image):
        image = image_ops.to_chw(image)
        h, w = self.size
        top = int(round((image.shape[1] - h) / 2.0))
        left = int(round((image.shape[2] - w) / 2.0))
        return _crop(image, top, left, h, w)

    def __repr__(self):
        return f"CenterCrop({self.size})"


class RandomTransform:
    """Base of the random transforms: holds ``generator`` (see the module docstring)."""

    def __init__(self, generator=None):
        if generator is not None and generator.device.type != "cpu":
            raise ValueError(f"{type(self).__name__}: generator must be a CPU generator, got one on {generator.device}")
        self.generator = generator if generator is not None else new_generator()

    def _generator(self):
        return generator_for(self)


class RandomResizedCrop(RandomTransform):
    """A random window covering a ``scale`` fraction of the area, of aspect ratio
    (w / h) in ``ratio`` (drawn log-uniformly), resized to ``size`` (int or (h, w)).
    As torchvision: 10 tries, then a central crop."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), antialias=True, generator=None):
        super().__init__(generator)
        self.size = _pair(size, "RandomResizedCrop: size")
        self.scale = _range(scale, "RandomResizedCrop: scale", low_bound=0.0)
        self.ratio = _range(ratio, "RandomResizedCrop: ratio", low_bound=1e-12)
        self.antialias = antialias

    def window(self, height, width, gen):
        """(top, left, h, w) of the crop of a height x width image."""
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            u_area, u_ratio, u_top, u_left = uniforms(gen, 4)
            target = area * lerp(self.scale, u_area)
            aspect = math.exp(lerp(log_ratio, u_ratio))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return int(u_top * (height - h + 1)), int(u_left * (width - w + 1)), h, w
        aspect = width / height
        if aspect < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif aspect > self.ratio[1]:
            h, w = height, int(round(height * self.ratio[1]))
        else:
            h, w = height, width
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, image):
        image = image_ops.to_chw(image)
        top, left, h, w = self.window(image.shape[1], image.shape[2], self._generator())
        return image_ops.resize(image[:, top:top + h, left:left + w], self.size, self.antialias)

    def __repr__(self):
        return f"RandomResizedCrop({self.size}, scale={self.scale}, ratio={self.ratio})"


class RandomHorizontalFlip(RandomTransform):
    """Mirror left-right with probability ``p``."""

    def __init__(self, p=0.5, generator=None):
        super().__init__(generator)
        self.p = _probability(p, "RandomHorizontalFlip")

    def __call__(self, image):
        image = image_ops.to_chw(image)
        return image[:, :, ::-1].copy() if uniform(self._generator()) < self.p else image

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class ColorJitter(RandomTransform):
    """Random brightness, contrast, saturation and hue, applied in a random order.

    Each of brightness, contrast, saturation is a number v (factor drawn from
    [max(0, 1 - v), 1 + v]) or a (low, high) range; hue is h in [0, 0.5] (shift drawn
    from [-h, h] of the colour circle) or a range. 0 leaves that property alone.
    Saturation and hue need 3 channels and skip 1-channel images."""

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0, generator=None):
        super().__init__(generator)
        self.brightness = self._factor(brightness, "brightness")
        self.contrast = self._factor(contrast, "contrast")
        self.saturation = self._factor(saturation, "saturation")
        self.hue = None if hue == 0 else _range(hue, "ColorJitter: hue")
        if self.hue is not None and not -0.5 <= self.hue[0] <= self.hue[1] <= 0.5:
            raise ValueError(f"ColorJitter: hue must lie in [-0.5, 0.5], got {hue!r}")

    @staticmethod
    def _factor(value, name):
        if isinstance(value, numbers.Real) and value == 0:
            return None
        low, high = _range(value, f"ColorJitter: {name}", center=1.0, low_bound=0.0)
        return None if low == high == 1.0 else (low, high)

    def __call__(self, image):
        image = image_ops.to_chw(image)
        gen = self._generator()
        order = np.asarray(gen.permutation(4)).tolist()
        ranges = (self.brightness, self.contrast, self.saturation, self.hue)
        factors = [None if r is None else lerp(r, u) for r, u in zip(ranges, uniforms(gen, 4))]
        color = image.shape[0] == 3
        for k in order:
            f = factors[k]
            if f is None:
                continue
            if k == 0:
                image = image_ops.blend(image, 0.0, f)
            elif k == 1:
                image = image_ops.blend(image, image_ops.mean_luma(image), f)
            elif k == 2 and color:
                image = image_ops.blend(image, image_ops.grayscale(image), f)
            elif k == 3 and color:
                image = image_ops.adjust_hue(image, f)
        return image

    def __repr__(self):
        return (f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
                f"saturation={self.saturation}, hue={self.hue})")


def _center(image):
    return (image.shape[2] - 1) / 2, (image.shape[1] - 1) / 2


class RandomRotation(RandomTransform):
    """Rotate about the centre by an angle drawn from ``degrees`` (d means [-d, d];
    counter-clockwise for positive), same size, bilinear; uncovered pixels get
    ``fill`` (a number or one per channel)."""

    def __init__(self, degrees, fill=0.0, generator=None):
        super().__init__(generator)
        self.degrees = _range(degrees, "RandomRotation: degrees")
        self.fill = fill

    def __call__(self, image):
        image = image_ops.to_chw(image)
        angle = uniform(self._generator(), *self.degrees)
        forward = image_ops.affine_matrix(_center(image), angle)
        return image_ops.warp_affine(image, image_ops.invert_affine(forward), self.fill)

    def __repr__(self):
        return f"RandomRotation(degrees={self.degrees}, fill={self.fill})"


class RandomAffine(RandomTransform):
    """A random affine map about the centre, as torchvision's.

    ``degrees``: rotation range (d means [-d, d]); ``translate`` (a, b): shifts up to
    a * W and b * H pixels (rounded); ``scale`` (low, high); ``shear``: s means an x
    shear in [-s, s] degrees, (low, high) an x range, (xlow, xhigh, ylow, yhigh)
    both. Bilinear; uncovered pixels get ``fill``."""

    def __init__(self, degrees, translate=None, scale=None, shear=None, fill=0.0, generator=None):
        super().__init__(generator)
        self.degrees = _range(degrees, "RandomAffine: degrees")
        if translate is not None and not all(0.0 <= t <= 1.0 for t in translate):
            raise ValueError(f"RandomAffine: translate must be two fractions in [0, 1], got {translate!r}")
        self.translate = None if translate is None else tuple(float(t) for t in translate)
        self.scale = None if scale is None else _range(scale, "RandomAffine: scale", low_bound=1e-12)
        self.shear = self._shear(shear)
        self.fill = fill

    @staticmethod
    def _shear(shear):
        if shear is None:
            return None
        if isinstance(shear, numbers.Real) or len(shear) == 2:
            return _range(shear, "RandomAffine: shear"), (0.0, 0.0)
        if len(shear) == 4:
            return _range(shear[:2], "RandomAffine: shear"), _range(shear[2:], "RandomAffine: shear")
        raise ValueError(f"RandomAffine: shear must be a number or 2 or 4 numbers, got {shear!r}")

    def __call__(self, image):
        image = image_ops.to_chw(image)
        gen = self._generator()
        height, width = image.shape[1:]
        u_angle, u_dx, u_dy, u_scale, u_shear_x, u_shear_y = uniforms(gen, 6)
        angle = lerp(self.degrees, u_angle)
        shift = (0.0, 0.0)
        if self.translate is not None:
            dx, dy = self.translate[0] * width, self.translate[1] * height
            shift = (round(lerp((-dx, dx), u_dx)), round(lerp((-dy, dy), u_dy)))
        scale = 1.0 if self.scale is None else lerp(self.scale, u_scale)
        shear = (0.0, 0.0) if self.shear is None else (lerp(self.shear[0], u_shear_x), lerp(self.shear[1], u_shear_y))
        forward = image_ops.affine_matrix(_center(image), angle, shift, scale, shear)
        return image_ops.warp_affine(image, image_ops.invert_affine(forward), self.fill)

    def __repr__(self):
        return (f"RandomAffine(degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
                f"shear={self.shear})")


class RandomGrayscale(RandomTransform):
    """With probability ``p``, replace every channel by the luma (3 channels stay 3)."""

    def __init__(self, p=0.1, generator=None):
        super().__init__(generator)
        self.p = _probability(p, "RandomGrayscale")

    def __call__(self, image):
        image = image_ops.to_chw(image)
        if uniform(self._generator()) >= self.p:
            return image
        return np.repeat(image_ops.grayscale(image), image.shape[0], axis=0)

    def __repr__(self):
        return f"RandomGrayscale(p={self.p})"


class GaussianBlur(RandomTransform):
    """Blur with a Gaussian of odd ``kernel_size`` (int or (h, w)) and a sigma drawn
    from ``sigma`` (a number, or a (low, high) range); borders reflect."""

    def __init__(self, kernel_size, sigma=(0.1, 2.0), generator=None):
        super().__init__(generator)
        self.kernel_size = _pair(kernel_size, "GaussianBlur: kernel_size")
        if not all(k % 2 == 1 for k in self.kernel_size):
            raise ValueError(f"GaussianBlur: kernel_size must be odd, got {kernel_size!r}")
        self.sigma = (float(sigma),) * 2 if isinstance(sigma, numbers.Real) else tuple(float(s) for s in sigma)
        if len(self.sigma) != 2 or not 0 < self.sigma[0] <= self.sigma[1]:
            raise ValueError(f"GaussianBlur: sigma must be positive (or a (low, high) range), got {sigma!r}")

    def __call__(self, image):
        image = image_ops.to_chw(image)
        s = uniform(self._generator(), *self.sigma)
        return image_ops.gaussian_blur(image, self.kernel_size, (s, s))

    def __repr__(self):
        return f"GaussianBlur(kernel_size={self.kernel_size}, sigma={self.sigma})"


class RandomErasing(RandomTransform):
    """Cutout: with probability ``p``, overwrite a random rectangle covering a
    ``scale`` fraction of the area with aspect ratio (h / w) in ``ratio`` by ``value``
    (a number, one per channel, or ``"random"`` for N(0, 1) noise). As torchvision:
    10 tries, else the image is left alone. Use after Normalize."""

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0.0, generator=None):
        super().__init__(generator)
        self.p = _probability(p, "RandomErasing")
        self.scale = _range(scale, "RandomErasing: scale", low_bound=0.0)
        self.ratio = _range(ratio, "RandomErasing: ratio", low_bound=1e-12)
        if isinstance(value, str) and value != "random":
            raise ValueError(f"RandomErasing: value must be a number, a sequence or 'random', got {value!r}")
        self.value = value

    def __call__(self, image):
        image = image_ops.to_chw(image)
        gen = self._generator()
        if uniform(gen) >= self.p:
            return image
        channels, height, width = image.shape
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            u_area, u_ratio, u_top, u_left = uniforms(gen, 4)
            area = height * width * lerp(self.scale, u_area)
            aspect = math.exp(lerp(log_ratio, u_ratio))
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if h < height and w < width:
                if self.value == "random":
                    fill = np.asarray(gen.normal((channels, h, w)))
                else:
                    fill = np.asarray(self.value, np.float32).reshape(-1, 1, 1)
                top, left = int(u_top * (height - h + 1)), int(u_left * (width - w + 1))
                out = image.copy()
                out[:, top:top + h, left:left + w] = fill
                return out
        return image

    def __repr__(self):
        return f"RandomErasing(p={self.p}, scale={self.scale}, ratio={self.ratio}, value={self.value!r})"


class RandomChoice(RandomTransform):
    """Apply one of ``transforms``, picked with probabilities ``p`` (default equal).

    Works for per-sample transforms and for batch-level ones such as
    ``RandomChoice([Mixup(0.2, 10), CutMix(1.0, 10)])`` called as ``(x, y)``."""

    def __init__(self, transforms, p=None, generator=None):
        super().__init__(generator)
        self.transforms = list(transforms)
        if not self.transforms:
            raise ValueError("RandomChoice: expected at least one transform")
        weights = np.ones(len(self.transforms)) if p is None else np.asarray(p, np.float64)
        if weights.shape != (len(self.transforms),) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError(f"RandomChoice: p must hold one non-negative weight per transform, got {p!r}")
        self.cumulative = np.cumsum(weights / weights.sum())

    def __call__(self, *args):
        u = uniform(self._generator())
        k = min(int(np.searchsorted(self.cumulative, u, side="right")), len(self.transforms) - 1)
        return self.transforms[k](*args)

    def __repr__(self):
        return "RandomChoice(" + ", ".join(repr(t) for t in self.transforms) + ")"
