"""Metrics: the functions give scikit-learn's values, the streaming objects torchmetrics' definitions."""
import warnings

import numpy as np
import pytest

import nyang
from nyang import metrics as M

skm = pytest.importorskip("sklearn.metrics")

AVERAGES = ["micro", "macro", "weighted", None]
SK = {"precision": skm.precision_score, "recall": skm.recall_score, "f1_score": skm.f1_score}


def _random_case(seed, num_classes, n=60):
    """Labels with one class never predicted and one class never true (when C > 2)."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, num_classes, n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, num_classes, n))
    if num_classes > 2:
        y_pred[y_pred == num_classes - 1] = 0
        y_true[y_true == 1] = 2
    return y_true, y_pred


def _close(ours, theirs):
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("num_classes", [2, 3, 6])
def test_scores_match_sklearn_on_random_predictions(seed, num_classes):
    y_true, y_pred = _random_case(seed, num_classes)
    assert M.accuracy(y_true, y_pred) == skm.accuracy_score(y_true, y_pred)
    for average in AVERAGES:
        for name, sk in SK.items():
            _close(getattr(M, name)(y_true, y_pred, average=average),
                   sk(y_true, y_pred, average=average, zero_division=0.0))
    # labels: a subset in another order plus a label that never occurs
    labels = [num_classes, *range(num_classes - 1, 0, -1)]
    for average in AVERAGES:
        for name, sk in SK.items():
            _close(getattr(M, name)(y_true, y_pred, average=average, labels=labels),
                   sk(y_true, y_pred, average=average, labels=labels, zero_division=0.0))
    ours = M.precision_recall_fscore_support(y_true, y_pred, average=None)
    theirs = skm.precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0.0)
    for a, b in zip(ours, theirs):
        _close(a, b)


@pytest.mark.parametrize("zero_division", [0.0, 1.0, np.nan])
def test_zero_division_values_match_sklearn_without_warnings(zero_division):
    y_true, y_pred = np.array([0, 0, 1, 1, 2]), np.array([0, 0, 0, 0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for average in AVERAGES:
            for name, sk in SK.items():
                ours = getattr(M, name)(y_true, y_pred, average=average, zero_division=zero_division)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    theirs = sk(y_true, y_pred, average=average, zero_division=zero_division)
                np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize("pos_label", [0, 1])
def test_binary_scores_match_sklearn_for_either_positive_label(pos_label):
    y_true, y_pred = _random_case(7, 2)
    for name, sk in SK.items():
        _close(getattr(M, name)(y_true, y_pred, pos_label=pos_label),
               sk(y_true, y_pred, pos_label=pos_label, zero_division=0.0))


@pytest.mark.filterwarnings("ignore:A single label was found")  # sklearn's, for a 1 x 1 matrix
@pytest.mark.parametrize("y_true, y_pred", [([0, 0, 0], [0, 0, 0]), ([1, 1, 1], [1, 1, 1]), ([1, 1], [0, 0]),
                                            ([3, 3, 3], [3, 3, 3])])
def test_one_class_edge_cases_match_sklearn(y_true, y_pred):
    for average in ["binary", *AVERAGES]:
        for name, sk in SK.items():
            _close(getattr(M, name)(y_true, y_pred, average=average),
                   sk(y_true, y_pred, average=average, zero_division=0.0))
    np.testing.assert_array_equal(M.confusion_matrix(y_true, y_pred), skm.confusion_matrix(y_true, y_pred))
    assert M.classification_report(y_true, y_pred, output_dict=True) == \
        skm.classification_report(y_true, y_pred, zero_division=0.0, output_dict=True)
    if y_true == y_pred:  # with no hit at all sklearn prints supports as floats ("2.0"); nyang keeps ints
        assert M.classification_report(y_true, y_pred) == skm.classification_report(y_true, y_pred)


def test_binary_errors_are_clear():
    with pytest.raises(ValueError, match="multiclass.*average='binary'"):
        M.f1_score([0, 1, 2], [0, 1, 1])
    with pytest.raises(ValueError, match=r"pos_label=5 is not a valid label.*\[0, 1\]"):
        M.precision([0, 1, 1], [0, 1, 0], pos_label=5)
    with pytest.raises(ValueError, match="3 samples but y_pred has 2"):
        M.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="non-integer"):
        M.accuracy([0, 1], [0.2, 0.9])
    with pytest.warns(UserWarning, match="pos_label"):
        M.recall([0, 1, 2], [0, 1, 2], average="macro", pos_label=2)


@pytest.mark.parametrize("seed", range(3))
def test_confusion_matrix_and_report_match_sklearn(seed):
    y_true, y_pred = _random_case(seed, 5)
    np.testing.assert_array_equal(M.confusion_matrix(y_true, y_pred), skm.confusion_matrix(y_true, y_pred))
    labels = [4, 0, 2, 7]
    np.testing.assert_array_equal(M.confusion_matrix(y_true, y_pred, labels=labels),
                                  skm.confusion_matrix(y_true, y_pred, labels=labels))
    np.testing.assert_array_equal(M.confusion_matrix(y_true, y_pred, num_classes=7),
                                  skm.confusion_matrix(y_true, y_pred, labels=range(7)))
    names = ["cat", "dog", "frog", "horse", "a much longer class name"]
    for kwargs in [{}, {"digits": 4}, {"target_names": names}, {"labels": [0, 2, 4, 6]},
                   {"labels": [0, 1, 2, 3, 4, 9]}]:
        assert M.classification_report(y_true, y_pred, **kwargs) == \
            skm.classification_report(y_true, y_pred, zero_division=0.0, **kwargs)
        assert M.classification_report(y_true, y_pred, output_dict=True, **kwargs) == \
            skm.classification_report(y_true, y_pred, zero_division=0.0, output_dict=True, **kwargs)
    with pytest.raises(ValueError, match="5 classes but 2 target_names"):
        M.classification_report(y_true, y_pred, target_names=["a", "b"])
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        M.confusion_matrix(y_true, y_pred, num_classes=3)


def test_inputs_may_be_tensors_on_any_device_scores_or_lists(backend):
    y_true, y_pred = _random_case(3, 4)
    scores = np.eye(4, dtype=np.float32)[y_pred] + 0.01 * np.arange(4, dtype=np.float32)
    t = nyang.tensor(backend.asarray(y_true))
    s = nyang.tensor(backend.asarray(scores), requires_grad=True)
    expected = skm.f1_score(y_true, y_pred, average="macro")
    assert M.f1_score(t, s, average="macro") == pytest.approx(expected, abs=1e-15)
    assert M.f1_score(y_true.tolist(), y_pred.tolist(), average="macro") == pytest.approx(expected, abs=1e-15)
    assert M.accuracy(backend.asarray(y_true), backend.asarray(y_pred)) == skm.accuracy_score(y_true, y_pred)
    metric = M.MulticlassAccuracy(4, average="micro")
    metric.update(s, t)
    assert metric.compute() == skm.accuracy_score(y_true, y_pred)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_accuracy_matches_sklearn_including_ties(k):
    rng = np.random.default_rng(k)
    y_true = rng.integers(0, 5, 80)
    for scores in (rng.standard_normal((80, 5)), rng.integers(0, 3, (80, 5)).astype(np.float64)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn warns when k >= n_classes
            expected = skm.top_k_accuracy_score(y_true, scores, k=k, labels=np.arange(5))
        assert M.top_k_accuracy(y_true, scores, k=k) == expected


def _stream(metric, y_true, scores, batch=7):
    for i in range(0, len(y_true), batch):
        metric.update(nyang.tensor(scores[i:i + batch]), nyang.tensor(y_true[i:i + batch]))
    return metric.compute()


@pytest.mark.parametrize("seed", range(3))
def test_streaming_accuracy_and_f1_follow_torchmetrics_definitions(seed):
    c = 6
    y_true, y_pred = _random_case(seed, c, n=100)
    y_true[y_true == 4] = 5  # class 4: never true, never predicted after this
    y_pred[y_pred == 4] = 5
    scores = np.eye(c, dtype=np.float32)[y_pred]
    assert M.MulticlassAccuracy(c).average == "macro"  # torchmetrics' default
    # torchmetrics' macro leaves out classes with no tp, fp or fn: sklearn's present labels
    assert _stream(M.MulticlassAccuracy(c), y_true, scores) == pytest.approx(
        skm.recall_score(y_true, y_pred, average="macro", zero_division=0.0), abs=1e-12)
    assert _stream(M.MulticlassAccuracy(c, average="micro"), y_true, scores) == pytest.approx(
        skm.accuracy_score(y_true, y_pred), abs=1e-12)
    assert _stream(M.MulticlassAccuracy(c, average="weighted"), y_true, y_pred) == pytest.approx(
        skm.recall_score(y_true, y_pred, average="weighted", zero_division=0.0), abs=1e-12)
    _close(_stream(M.MulticlassAccuracy(c, average=None), y_true, y_pred),
           skm.recall_score(y_true, y_pred, average=None, labels=range(c), zero_division=0.0))
    for average in ["micro", "macro", "weighted"]:
        assert _stream(M.MulticlassF1Score(c, average=average), y_true, scores) == pytest.approx(
            skm.f1_score(y_true, y_pred, average=average, zero_division=0.0), abs=1e-12)
    _close(_stream(M.MulticlassF1Score(c, average="none"), y_true, scores),
           skm.f1_score(y_true, y_pred, average=None, labels=range(c), zero_division=0.0))
    confusion = M.MulticlassConfusionMatrix(c)
    np.testing.assert_array_equal(_stream(confusion, y_true, y_pred),
                                  skm.confusion_matrix(y_true, y_pred, labels=range(c)))
    confusion.reset()
    assert confusion.compute().sum() == 0


def test_streaming_top_k_accuracy():
    rng = np.random.default_rng(0)
    c, k = 7, 3
    y_true = rng.integers(0, c - 1, 90)  # the last class never occurs
    scores = rng.standard_normal((90, c)).astype(np.float32)
    micro = _stream(M.MulticlassAccuracy(c, average="micro", top_k=k), y_true, scores)
    assert micro == skm.top_k_accuracy_score(y_true, scores, k=k, labels=range(c))
    hits = np.any(np.argsort(-scores, axis=1)[:, :k] == y_true[:, None], axis=1)
    per_class = np.array([hits[y_true == i].mean() for i in range(c - 1)])
    macro = _stream(M.MulticlassAccuracy(c, top_k=k), y_true, scores)
    assert macro == pytest.approx(per_class.mean(), abs=1e-12)
    with pytest.raises(ValueError, match="needs scores"):
        M.MulticlassAccuracy(c, top_k=2).update(nyang.tensor(y_true), nyang.tensor(y_true))


def test_streaming_metrics_check_their_inputs_and_reset():
    metric = M.MulticlassF1Score(3)
    assert metric.compute() == 0.0
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        metric.update(nyang.tensor([0, 1]), nyang.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"scores of shape \(N, 3\)"):
        metric.update(nyang.zeros(2, 4), nyang.tensor([0, 1]))
    with pytest.raises(ValueError, match="average"):
        M.MulticlassAccuracy(3, average="samples")
    metric.update(nyang.tensor([0, 1, 2]), nyang.tensor([0, 1, 2]))
    assert metric.compute() == 1.0
    metric.reset()
    assert metric.compute() == 0.0


def test_mean_squared_error_and_mean_metric():
    rng = np.random.default_rng(1)
    preds, target = rng.standard_normal((50, 3)), rng.standard_normal((50, 3))
    mse, rmse = M.MeanSquaredError(), M.MeanSquaredError(squared=False)
    assert np.isnan(mse.compute())
    for i in range(0, 50, 8):
        mse.update(nyang.tensor(preds[i:i + 8]), target[i:i + 8])
        rmse.update(preds[i:i + 8], target[i:i + 8])
    assert mse.compute() == pytest.approx(skm.mean_squared_error(target, preds), rel=1e-12)
    assert rmse.compute() == pytest.approx(np.sqrt(skm.mean_squared_error(target, preds)), rel=1e-12)

    losses, sizes = rng.random(6), rng.integers(1, 10, 6)
    mean = M.MeanMetric()
    assert np.isnan(mean.compute())
    for loss, size in zip(losses, sizes):
        mean.update(nyang.tensor(loss), weight=int(size))
    assert mean.compute() == pytest.approx(np.average(losses, weights=sizes), rel=1e-12)
    mean.update(np.array([1.0, 2.0]))
    assert mean.total_weight == sizes.sum() + 2
    mean.reset()
    mean.update(float("nan"))
    assert np.isnan(mean.compute())


def test_save_confusion_matrix_writes_a_picture(tmp_path):
    pytest.importorskip("matplotlib")
    Image = pytest.importorskip("PIL.Image")
    from nyang.viz import save_confusion_matrix

    cm = skm.confusion_matrix(*_random_case(0, 4))
    for normalize in [None, "true"]:
        path = tmp_path / f"cm_{normalize}.png"
        save_confusion_matrix(nyang.tensor(cm), path, class_names=["a", "b", "c", "d"], normalize=normalize)
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 100
    with pytest.raises(ValueError, match="square"):
        save_confusion_matrix(np.zeros((2, 3)), tmp_path / "bad.png")
