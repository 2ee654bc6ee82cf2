"""StandardScaler and MinMaxScaler against scikit-learn."""
import numpy as np
import pytest

import nyang
from nyang.data import MinMaxScaler, StandardScaler

preprocessing = pytest.importorskip("sklearn.preprocessing")

X = np.random.default_rng(0).normal(3.0, 2.0, (40, 5)).astype(np.float32)
X[:, 2] = 7.0  # a constant feature
Y = np.random.default_rng(1).normal(3.0, 2.0, (9, 5)).astype(np.float32)


@pytest.mark.parametrize("ours, theirs", [(StandardScaler, preprocessing.StandardScaler),
                                          (MinMaxScaler, preprocessing.MinMaxScaler)])
def test_matches_sklearn(ours, theirs):
    mine, reference = ours().fit(X), theirs().fit(X)
    out = mine.transform(Y)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, reference.transform(Y), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mine.fit_transform(X), reference.fit_transform(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mine.inverse_transform(out), Y, rtol=1e-5, atol=1e-5)
    for field in mine._fields:
        np.testing.assert_allclose(getattr(mine, field), getattr(reference, field), rtol=1e-6)


@pytest.mark.parametrize("kind", [StandardScaler, MinMaxScaler])
def test_state_dict_and_tensors(kind):
    fitted = kind().fit(X)
    restored = kind().load_state_dict(fitted.state_dict())
    t = restored.transform(nyang.tensor(Y))
    assert isinstance(t, nyang.Tensor) and t.dtype == nyang.float32
    np.testing.assert_array_equal(t.numpy(), fitted.transform(Y))
    with pytest.raises(RuntimeError, match="fit"):
        kind().transform(Y)
