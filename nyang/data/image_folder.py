"""A dataset of image files sorted into one folder per class, with seeded splits.

    root/cat/001.png, root/cat/002.png, ...  root/dog/001.jpg, ...

Images are read with Pillow (the ``images`` extra: ``pip install nyang[images]``).
"""
import os
import warnings
from pathlib import Path

import numpy as np

from nyang.data.dataset import Dataset
from nyang.data.split import SPLIT_NAMES, Splits, check_ratios, stratified_split

IMG_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


class UnreadableImageError(OSError):
    """An image file that Pillow cannot decode; the message names the file."""


def _pil_image():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install nyang[images]") from None
    return Image


def load_image(path):
    """The image at ``path`` as an (H, W, C) uint8 array: C = 1 for grayscale files,
    C = 3 for everything else (converted to RGB). Raises :class:`UnreadableImageError`."""
    image_module = _pil_image()
    try:
        with image_module.open(path) as image:
            if image.mode not in ("L", "RGB"):
                image = image.convert("L" if image.mode in _GRAY_MODES else "RGB")
            array = np.asarray(image)
    except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, zlib.error, ...)
        raise UnreadableImageError(f"cannot decode image file {path}: {exc}") from exc
    return array[:, :, None] if array.ndim == 2 else array


def _image_files(folder):
    found = []
    for parent, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.join(parent, f) for f in files
                  if not f.startswith(".") and f.lower().endswith(IMG_EXTENSIONS)]
    return sorted(found)


class ImageFolder(Dataset):
    """Images in class folders: ``dataset[i] == (image, label)``.

    ``root``: a folder with one sub-folder per class (``classes`` picks and orders
    them; default: every sub-folder, sorted). ``split``: ``"train"``, ``"valid"``,
    ``"test"`` or None (every file); the split is stratified per class by
    ``ratios`` (train, valid, test) and ``seed``, so the three splits are disjoint,
    together hold every file once, and are the same on every run and machine.

    An image is an (H, W, C) uint8 array (C = 1 or 3, as the file holds) or what
    ``transform`` makes of it; the label is an int, a float32 one-hot (num_classes,)
    vector with ``one_hot``, or what ``target_transform`` makes of it. A file Pillow
    cannot decode raises :class:`UnreadableImageError` naming it when read; with
    ``on_error="skip"`` every file of the split is decoded once here and those that
    fail are left out, with one warning that counts them.

    Attributes as torchvision's: ``samples`` ((path, label) pairs), ``targets``,
    ``classes``, ``class_to_idx``.
    """

    def __init__(self, root, classes=None, split=None, ratios=(0.7, 0.15, 0.15), seed=0, transform=None,
                 target_transform=None, one_hot=False, on_error="raise"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"root: {str(root)!r} is not a folder")
        if split is not None and split not in SPLIT_NAMES:
            raise ValueError(f"split: unknown split name {split!r}; expected one of {SPLIT_NAMES} or None")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error: expected 'raise' or 'skip', got {on_error!r}")
        self.ratios = check_ratios(ratios, "ratios")
        if len(self.ratios) != 3:
            raise ValueError(f"ratios: expected three ratios (train, valid, test), got {ratios!r}")
        self.split, self.seed = split, seed
        self.transform, self.target_transform, self.one_hot = transform, target_transform, one_hot
        self.classes = self._find_classes(classes)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        samples = self._find_samples()
        if split is not None:
            labels = np.array([label for _, label in samples], np.int64)
            samples = [samples[i] for i in stratified_split(labels, self.ratios, seed)[SPLIT_NAMES.index(split)]]
        if on_error == "skip":
            samples = self._decodable(samples)
        self.samples = samples
        self.targets = [label for _, label in samples]

    def _find_classes(self, classes):
        folders = sorted(e.name for e in os.scandir(self.root) if e.is_dir() and not e.name.startswith("."))
        if classes is None:
            if not folders:
                raise ValueError(f"root: {str(self.root)!r} has no class sub-folders")
            return folders
        classes = [str(c) for c in classes]
        missing = [c for c in classes if c not in folders]
        if missing or len(set(classes)) != len(classes) or not classes:
            raise ValueError(f"classes: {classes!r} must be distinct sub-folders of {str(self.root)!r}"
                             + (f"; missing {missing}" if missing else ""))
        return classes

    def _find_samples(self):
        samples, needed = [], sum(r > 0 for r in self.ratios) if self.split is not None else 1
        for label, name in enumerate(self.classes):
            files = _image_files(self.root / name)
            if len(files) < needed:
                what = f"the split ratios {self.ratios}" if self.split is not None else "a dataset"
                raise ValueError(f"root: class folder {name!r} holds {len(files)} image file(s), too few for "
                                 f"{what} (it needs {needed}; extensions {', '.join(IMG_EXTENSIONS)})")
            samples += [(path, label) for path in files]
        return samples

    @staticmethod
    def _decodable(samples):
        kept, bad = [], []
        for path, label in samples:
            try:
                load_image(path)
            except UnreadableImageError:
                bad.append(path)
            else:
                kept.append((path, label))
        if bad:
            warnings.warn(f"ImageFolder: skipped {len(bad)} image file(s) that could not be decoded "
                          f"(first: {bad[0]})", stacklevel=3)
        return kept

    @property
    def num_classes(self):
        """The number of classes."""
        return len(self.classes)

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        image = load_image(path)
        if self.transform is not None:
            image = self.transform(image)
        target = label
        if self.one_hot:
            target = np.zeros(len(self.classes), np.float32)
            target[label] = 1.0
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    @classmethod
    def splits(cls, root, transform=None, eval_transform=None, **options):
        """The three splits of ``root`` in one call, as :class:`~nyang.data.split.Splits`:
        ``train`` with ``transform``, ``valid`` and ``test`` with ``eval_transform``
        (default: ``transform``). ``options`` are the constructor's (classes, ratios,
        seed, target_transform, one_hot, on_error)."""
        eval_transform = transform if eval_transform is None else eval_transform
        train = cls(root, split="train", transform=transform, **options)
        valid = cls(root, split="valid", transform=eval_transform, **options)
        test = cls(root, split="test", transform=eval_transform, **options)
        return Splits(train, valid, test, classes=train.classes)

    def __repr__(self):
        return (f"ImageFolder(root={str(self.root)!r}, split={self.split!r}, samples={len(self)}, "
                f"classes={len(self.classes)})")
