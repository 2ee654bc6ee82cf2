"""Each transform's defining property, with oracles where PyTorch has the same op."""
import numpy as np
import pytest

import nyang
from nyang.data import sample_seed
from nyang.data import transforms as T

RNG = np.random.default_rng(0)
IMAGE = RNG.random((3, 15, 17), dtype=np.float32)  # odd, non-square: centres fall on pixels


def _gen(seed=0):
    return nyang.Generator("cpu").manual_seed(seed)


def test_to_tensor_from_uint8_and_pil():
    hwc = RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    out = T.ToTensor()(hwc)
    assert out.shape == (3, 4, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out, hwc.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert T.ToTensor()(hwc[:, :, 0]).shape == (1, 4, 5)
    assert T.ToTensor()(out) is out
    Image = pytest.importorskip("PIL.Image")
    np.testing.assert_array_equal(T.ToTensor()(Image.fromarray(hwc)), out)


def test_normalize_is_torchvisions_formula():
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    expected = (IMAGE - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_array_equal(T.Normalize(mean, std)(IMAGE), expected)
    with pytest.raises(ValueError, match="std"):
        T.Normalize([0.5], [0.0])


def test_flip_twice_is_identity():
    flip = T.RandomHorizontalFlip(p=1.0)
    once = flip(IMAGE)
    np.testing.assert_array_equal(once, IMAGE[:, :, ::-1])
    np.testing.assert_array_equal(flip(once), IMAGE)
    assert T.RandomHorizontalFlip(p=0.0)(IMAGE) is IMAGE
    flips = [not np.array_equal(T.RandomHorizontalFlip(generator=_gen(s))(IMAGE), IMAGE) for s in range(40)]
    assert 10 < sum(flips) < 30


@pytest.mark.parametrize("size", [8, (6, 11), (20, 30)])
def test_crops_have_the_requested_size(size):
    h, w = (size, size) if isinstance(size, int) else size
    for seed in range(5):
        out = T.RandomResizedCrop(size, generator=_gen(seed))(IMAGE)
        assert out.shape == (3, h, w) and out.dtype == np.float32
    assert T.CenterCrop(size)(IMAGE).shape == (3, h, w)
    np.testing.assert_array_equal(T.CenterCrop((5, 7))(IMAGE), IMAGE[:, 5:10, 5:12])
    padded = T.CenterCrop((19, 17))(IMAGE)
    np.testing.assert_array_equal(padded[:, 2:17], IMAGE)
    assert np.all(padded[:, :2] == 0)


def test_resize_sizes_and_constant_images():
    assert T.Resize(10)(IMAGE).shape == (3, 10, 11)  # the shorter side, aspect kept
    assert T.Resize((4, 40))(IMAGE).shape == (3, 4, 40)
    constant = np.full((2, 9, 13), 0.37, np.float32)
    for size in [(4, 5), (9, 13), (30, 7)]:
        np.testing.assert_allclose(T.Resize(size)(constant), 0.37, rtol=1e-6)


@pytest.mark.parametrize("size", [(30, 40), (7, 8), (15, 5)])
def test_resize_matches_torch_bilinear(size):
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(IMAGE)[None]
    expected = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False,
                                               antialias=True)[0].numpy()
    np.testing.assert_allclose(T.Resize(size)(IMAGE), expected, atol=2e-6)


def test_rotation_and_affine_identities():
    np.testing.assert_array_equal(T.RandomRotation(0)(IMAGE), IMAGE)
    np.testing.assert_array_equal(T.RandomAffine(0)(IMAGE), IMAGE)
    square = IMAGE[:, :15, :15]
    quarter = T.RandomRotation((90, 90))(square)  # counter-clockwise on screen
    np.testing.assert_allclose(quarter, np.rot90(square, k=1, axes=(1, 2)), atol=1e-5)
    shifted = T.RandomAffine(0, translate=(0.2, 0.0), fill=-1.0, generator=_gen(3))(IMAGE)
    uncovered = np.all(shifted == -1.0, axis=(0, 1))  # the columns the shift exposed
    n = int(uncovered.sum())
    assert n > 0
    if uncovered[0]:
        np.testing.assert_array_equal(shifted[:, :, n:], IMAGE[:, :, :-n])
    else:
        np.testing.assert_array_equal(shifted[:, :, :-n], IMAGE[:, :, n:])
    rotated = T.RandomRotation(30, fill=(1.0, 2.0, 3.0), generator=_gen(0))(IMAGE)
    assert rotated.shape == IMAGE.shape and rotated[2, 0, 0] == pytest.approx(3.0)


def test_color_jitter():
    np.testing.assert_array_equal(T.ColorJitter(0, 0, 0, 0)(IMAGE), IMAGE)
    np.testing.assert_allclose(T.ColorJitter(brightness=(0.5, 0.5))(IMAGE), IMAGE * 0.5, rtol=1e-6)
    gray = T.ColorJitter(saturation=(0.0, 0.0))(IMAGE)
    np.testing.assert_allclose(gray[0], gray[1], atol=1e-6)
    import colorsys

    shift = 0.3
    turned = T.ColorJitter(hue=(shift, shift))(IMAGE)
    for y, x in [(0, 0), (4, 9), (14, 16)]:
        h, s, v = colorsys.rgb_to_hsv(*IMAGE[:, y, x])
        np.testing.assert_allclose(turned[:, y, x], colorsys.hsv_to_rgb((h + shift) % 1.0, s, v), atol=1e-6)
    half_turn = T.ColorJitter(hue=(0.5, 0.5))
    np.testing.assert_allclose(half_turn(half_turn(IMAGE)), IMAGE, atol=1e-5)
    jittered = T.ColorJitter(0.4, 0.4, 0.4, 0.1, generator=_gen(1))(IMAGE)
    assert jittered.shape == IMAGE.shape and 0 <= jittered.min() and jittered.max() <= 1
    with pytest.raises(ValueError, match="hue"):
        T.ColorJitter(hue=0.7)


def test_grayscale_keeps_three_equal_channels():
    out = T.RandomGrayscale(p=1.0)(IMAGE)
    assert out.shape == IMAGE.shape
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[1], out[2])
    np.testing.assert_allclose(out[0], 0.299 * IMAGE[0] + 0.587 * IMAGE[1] + 0.114 * IMAGE[2], atol=1e-6)


def test_blur_keeps_a_constant_image_and_the_mean():
    constant = np.full((3, 9, 11), 0.6, np.float32)
    blurred = T.GaussianBlur(5, sigma=(0.5, 3.0), generator=_gen(0))(constant)
    np.testing.assert_allclose(blurred, 0.6, rtol=1e-6)
    smooth = T.GaussianBlur((3, 7), sigma=1.5)(IMAGE)
    assert smooth.std() < IMAGE.std()
    with pytest.raises(ValueError, match="odd"):
        T.GaussianBlur(4)


def test_erasing_covers_an_area_within_scale():
    ones = np.ones((1, 40, 40), np.float32)
    scale = (0.05, 0.2)
    for seed in range(20):
        out = T.RandomErasing(p=1.0, scale=scale, value=0.0, generator=_gen(seed))(ones)
        rows, cols = np.nonzero(out[0] == 0)
        area = len(rows)
        assert area == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)  # one rectangle
        h, w = np.ptp(rows) + 1, np.ptp(cols) + 1
        slack = (h + w) / 2 + 0.25  # h and w are rounded to whole pixels
        assert scale[0] * 1600 - slack <= area <= scale[1] * 1600 + slack
    assert T.RandomErasing(p=0.0)(IMAGE) is IMAGE
    noisy = T.RandomErasing(p=1.0, value="random", generator=_gen(0))(IMAGE)
    assert noisy.shape == IMAGE.shape and not np.array_equal(noisy, IMAGE)


def test_random_transforms_follow_their_generator_and_the_sample_seed():
    pipeline = [T.RandomResizedCrop(9), T.RandomHorizontalFlip(), T.ColorJitter(0.2, 0.2, 0.2, 0.05),
                T.RandomRotation(20), T.RandomAffine(10, (0.1, 0.1), (0.9, 1.1), 5), T.RandomGrayscale(0.5),
                T.GaussianBlur(3), T.RandomErasing()]
    for make in pipeline:
        a = type(make)(**_args(make), generator=_gen(5))(IMAGE)
        b = type(make)(**_args(make), generator=_gen(5))(IMAGE)
        np.testing.assert_array_equal(a, b)
    compose = T.Compose(pipeline)
    with sample_seed(123):
        first = compose(IMAGE)
    compose(IMAGE)  # advances the transforms' own generators, not the sample's
    with sample_seed(123):
        np.testing.assert_array_equal(compose(IMAGE), first)


def _args(t):
    return {T.RandomResizedCrop: {"size": 9}, T.RandomRotation: {"degrees": 20},
            T.RandomAffine: {"degrees": 10, "translate": (0.1, 0.1), "scale": (0.9, 1.1), "shear": 5},
            T.GaussianBlur: {"kernel_size": 3}, T.ColorJitter: {"brightness": 0.2, "hue": 0.05}}.get(type(t), {})


def test_random_choice_uses_its_weights():
    pick = T.RandomChoice([lambda x: 0, lambda x: 1], p=[0.2, 0.8], generator=_gen(0))
    picks = [pick(None) for _ in range(500)]
    assert 0.7 < np.mean(picks) < 0.9
    with pytest.raises(ValueError, match="p must"):
        T.RandomChoice([lambda x: 0], p=[0.5, 0.5])


@pytest.mark.parametrize("make, match", [
    (lambda: T.RandomHorizontalFlip(p=1.5), "p must be in"),
    (lambda: T.RandomResizedCrop(0), "size"),
    (lambda: T.RandomResizedCrop(8, scale=(0.9, 0.1)), "scale"),
    (lambda: T.RandomErasing(value="noise"), "value"),
    (lambda: T.RandomAffine(0, translate=(1.5, 0)), "translate"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
