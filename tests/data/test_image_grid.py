"""nyang.viz.save_image_grid writes a readable, non-blank PNG."""
import numpy as np
import pytest

import nyang
from nyang import viz
from nyang.data import datasets

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")


def test_grid_of_digits(tmp_path):
    train = datasets.digits().train
    x, y = train.tensors[0][:20], train.tensors[1][:20]
    path = viz.save_image_grid(nyang.tensor(x), nyang.tensor(y), tmp_path / "grid.png",
                               class_names=[f"digit {k}" for k in range(10)], nrow=8)
    with Image.open(path) as picture:
        assert picture.format == "PNG"
        assert picture.size == (1000, 435)  # 8 columns x 3 rows at 125 x 145 pixels
        pixels = np.asarray(picture.convert("L"))
    assert pixels.std() > 10 and len(np.unique(pixels)) > 16


def test_rgb_normalized_and_soft_labels(tmp_path):
    images = np.random.default_rng(0).normal(size=(3, 3, 6, 6)).astype(np.float32)
    path = viz.save_image_grid(images, np.eye(3)[[2, 0, 1]], tmp_path / "rgb.png", nrow=2)
    with Image.open(path) as picture:
        assert picture.size == (250, 290)
    with pytest.raises(ValueError, match="shape"):
        viz.save_image_grid(np.zeros((2, 4, 5, 5)), None, tmp_path / "bad.png")
