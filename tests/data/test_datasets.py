"""The bundled datasets load offline and equal scikit-learn's copies."""
import numpy as np
import pytest

from nyang.data import TensorDataset, datasets

sklearn_datasets = pytest.importorskip("sklearn.datasets")

LOADERS = {"digits": "load_digits", "iris": "load_iris", "wine": "load_wine", "breast_cancer": "load_breast_cancer"}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_raw_arrays_equal_sklearn(name):
    reference = getattr(sklearn_datasets, LOADERS[name])()
    x, y, classes = datasets.load_raw(name)
    assert x.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(x, reference.data)
    np.testing.assert_array_equal(y, reference.target)
    assert classes == [str(c) for c in reference.target_names]


def test_digits_splits():
    reference = sklearn_datasets.load_digits()
    splits = datasets.digits()
    train, valid, test = splits
    assert (len(train), len(valid), len(test)) == (1258, 270, 269)
    assert splits.num_classes == 10 and splits.num_features == 64 and splits.classes[3] == "3"
    assert isinstance(train, TensorDataset)
    x, y = train[0]
    assert x.shape == (1, 8, 8) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    for name, part in zip(("train", "valid", "test"), splits):
        rows = splits.indices[name]
        np.testing.assert_array_equal(part.tensors[0], (reference.images[rows] / 16).astype(np.float32)[:, None])
        np.testing.assert_array_equal(part.tensors[1], reference.target[rows])
    again = datasets.digits()
    assert all(np.array_equal(again.indices[k], splits.indices[k]) for k in splits.indices)


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_tables_split_and_scale_on_train_only(name):
    reference = getattr(sklearn_datasets, LOADERS[name])()
    raw = getattr(datasets, name)()
    assert raw.num_features == reference.data.shape[1] and raw.num_classes == len(reference.target_names)
    rows = raw.indices["valid"]
    np.testing.assert_array_equal(raw.valid.tensors[0], reference.data[rows].astype(np.float32))
    scaled = getattr(datasets, name)(scaler="standard")
    train = scaled.train.tensors[0]
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-5)
    assert abs(scaled.valid.tensors[0].mean()) > 1e-4  # fitted on train only: valid is not exactly centred
    np.testing.assert_allclose(scaled.scaler.mean_, reference.data[raw.indices["train"]].astype(np.float32).mean(0),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="scaler"):
        getattr(datasets, name)(scaler="robust")


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="'mnist'"):
        datasets.load_raw("mnist")
