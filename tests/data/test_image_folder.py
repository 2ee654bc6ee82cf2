"""ImageFolder on the digits written as PNG files by examples/export_digits.py."""
import shutil
import warnings

import numpy as np
import pytest

import nyang
from nyang.data import ImageFolder, UnreadableImageError, datasets, transforms

pytest.importorskip("PIL")


def test_discovers_classes_and_reads_images(digits_dir):
    data = ImageFolder(digits_dir)
    assert data.classes == [str(d) for d in range(10)]
    assert data.class_to_idx["7"] == 7 and len(data) == 1797
    path, label = data.samples[0]
    assert path.endswith("0000.png") and label == 0 and data.targets[0] == 0
    image, label = data[0]
    assert image.shape == (8, 8, 1) and image.dtype == np.uint8
    x, _, _ = datasets.load_raw("digits")
    np.testing.assert_array_equal(image[:, :, 0], np.round(x[0].reshape(8, 8) * 255 / 16))


def test_splits_are_stratified_disjoint_covering_and_seeded(digits_dir):
    parts = [ImageFolder(digits_dir, split=s, seed=5) for s in ("train", "valid", "test")]
    paths = [set(p for p, _ in part.samples) for part in parts]
    assert sum(len(p) for p in paths) == 1797 and len(set.union(*paths)) == 1797
    assert not (paths[0] & paths[1] or paths[0] & paths[2] or paths[1] & paths[2])
    for part, share in zip(parts, (0.7, 0.15, 0.15)):
        counts = np.bincount(part.targets, minlength=10)
        assert np.all(np.abs(counts - share * np.bincount(ImageFolder(digits_dir).targets)) <= 1)
    assert ImageFolder(digits_dir, split="valid", seed=5).samples == parts[1].samples
    assert ImageFolder(digits_dir, split="valid", seed=6).samples != parts[1].samples


def test_one_call_splits_transforms_one_hot_and_class_list(digits_dir):
    splits = ImageFolder.splits(digits_dir, transform=transforms.ToTensor(), classes=["3", "8"], one_hot=True)
    assert splits.classes == ["3", "8"] and splits.num_classes == 2
    x, y = splits.train[0]
    assert x.shape == (1, 8, 8) and x.dtype == np.float32
    assert y.dtype == np.float32 and y.tolist() in ([1.0, 0.0], [0.0, 1.0])
    assert len(splits.train) + len(splits.valid) + len(splits.test) == 183 + 174
    rgb = ImageFolder(digits_dir, target_transform=lambda t: t + 100)
    assert rgb[0][1] == 100


def test_rgb_images(digits_rgb_dir):
    image, _ = ImageFolder(digits_rgb_dir)[0]
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8


@pytest.fixture
def small_tree(tmp_path, digits_dir):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for k in range(8):
            shutil.copy(digits_dir / "1" / sorted(p.name for p in (digits_dir / "1").iterdir())[k],
                        tmp_path / c / f"{k}.png")
    return tmp_path


def test_undecodable_file_is_named_or_skipped(small_tree):
    bad = small_tree / "b" / "broken.png"
    bad.write_bytes(b"not a png at all")
    data = ImageFolder(small_tree)
    index = [p for p, _ in data.samples].index(str(bad))
    with pytest.raises(UnreadableImageError, match="broken.png"):
        data[index]
    (small_tree / "a" / "also_broken.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.warns(UserWarning, match="skipped 2 image file") as record:
        kept = ImageFolder(small_tree, on_error="skip")
    assert len(record) == 1 and len(kept) == 16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert all(kept[i][0].shape == (8, 8, 1) for i in range(len(kept)))


def test_bad_arguments_name_argument_and_value(tmp_path, small_tree):
    with pytest.raises(ValueError, match="root: .* has no class sub-folders"):
        ImageFolder(tmp_path / "a")  # a folder of files, no class folders
    empty = tmp_path / "empty"
    (empty / "cls").mkdir(parents=True)
    with pytest.raises(ValueError, match="class folder 'cls' holds 0 image"):
        ImageFolder(empty)
    with pytest.raises(ValueError, match="root: .*missing.* is not a folder"):
        ImageFolder(tmp_path / "missing")
    with pytest.raises(ValueError, match="split: unknown split name 'validation'"):
        ImageFolder(small_tree, split="validation")
    with pytest.raises(ValueError, match=r"ratios: ratios must sum to 1, got \(0.5, 0.2, 0.2\)"):
        ImageFolder(small_tree, split="train", ratios=(0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="ratios: ratios must be non-negative"):
        ImageFolder(small_tree, split="train", ratios=(1.2, -0.1, -0.1))
    with pytest.raises(ValueError, match="classes: .*missing \\['c'\\]"):
        ImageFolder(small_tree, classes=["a", "c"])
    (small_tree / "c").mkdir()
    shutil.copy(small_tree / "a" / "0.png", small_tree / "c" / "0.png")
    with pytest.raises(ValueError, match="class folder 'c' holds 1 image file.*too few"):
        ImageFolder(small_tree, split="train")


def test_loading_with_workers_and_augmentation(digits_rgb_dir):
    train_transform = transforms.Compose([transforms.ToTensor(), transforms.RandomResizedCrop(12, scale=(0.6, 1.0)),
                                          transforms.ColorJitter(0.2, 0.2, 0.2, 0.05), transforms.RandomRotation(10),
                                          transforms.Normalize([0.5] * 3, [0.25] * 3)])
    eval_transform = transforms.Compose([transforms.ToTensor(), transforms.CenterCrop(12),
                                         transforms.Normalize([0.5] * 3, [0.25] * 3)])
    splits = ImageFolder.splits(digits_rgb_dir, transform=train_transform, eval_transform=eval_transform,
                                classes=["0", "1", "2", "3"])
    epochs = []
    for workers in (0, 2):
        nyang.manual_seed(0)
        train, valid, _ = splits.loaders(batch_size=64, num_workers=workers)
        epochs.append([(x.numpy(), y.numpy()) for x, y in train])
        x, y = next(iter(valid))
        assert x.shape == (64, 3, 12, 12) and y.dtype == nyang.int64 and set(y.numpy().tolist()) <= {0, 1, 2, 3}
    assert sum(len(y) for _, y in epochs[0]) == len(splits.train)
    for (x0, y0), (x2, y2) in zip(*epochs):
        np.testing.assert_array_equal(x0, x2)
        np.testing.assert_array_equal(y0, y2)
