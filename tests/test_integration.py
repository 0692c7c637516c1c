"""The classifier inside scikit-learn's tools: pipelines, search, CV, persistence."""

import io
import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

from sk_privattn import DPAttentionClassifier

from _settings import FAST_PARAMS
from conftest import KINDS, PUBLIC, make_case

pytestmark = pytest.mark.filterwarnings("ignore::sk_privattn.exceptions.PrivacyLeakWarning")


def _clf(**params):
    return DPAttentionClassifier(**{**FAST_PARAMS, "random_state": 0, "classes": [0, 1], **params})


def test_dataframe_with_categorical_columns(mixed_frame):
    X, y = mixed_frame
    clf = _clf(max_epochs=5, **PUBLIC).fit(X, y)
    np.testing.assert_array_equal(clf.feature_names_in_, ["age", "color", "income", "size"])
    np.testing.assert_array_equal(clf.is_categorical_, [False, True, False, True])
    assert [list(c) for c in clf.categories_] == [["red", "green", "blue"], ["S", "M", "L", "XL"]]
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-5)
    assert set(clf.predict(X)) <= {0, 1}


def test_pipeline_with_column_transformer(mixed_frame):
    X, y = mixed_frame
    X = X.astype({"color": object, "size": object})
    encode = ColumnTransformer(
        [
            ("numeric", FunctionTransformer(lambda frame: frame.clip(0, 100)), ["age", "income"]),
            ("categorical", OrdinalEncoder(categories=[["red", "green", "blue"], ["S", "M", "L", "XL"]]), ["color", "size"]),
        ]
    )
    pipe = Pipeline(
        [
            ("encode", encode),
            (
                "clf",
                _clf(
                    categorical_features=[2, 3],
                    bounds=(0, 100),
                    categories=[[0, 1, 2], [0, 1, 2, 3]],
                ),
            ),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=Warning)
        pipe.fit(X, y)
    assert pipe.predict(X).shape == (len(X),)
    assert 0.0 <= pipe.score(X, y) <= 1.0


@pytest.mark.parametrize("kind", KINDS)
def test_grid_search_over_epsilon_in_two_processes(kind):
    estimator, X, y = make_case(kind)
    search = GridSearchCV(estimator, {"epsilon": [0.5, 1.0, np.inf]}, cv=2, n_jobs=2, error_score="raise").fit(X, y)
    assert list(search.cv_results_["param_epsilon"]) == [0.5, 1.0, np.inf]
    assert search.best_estimator_.epsilon_ <= search.best_params_["epsilon"]


def test_cross_val_score(numeric_data):
    X, y = numeric_data
    scores = cross_val_score(_clf(bounds=(-1, 1)), X, y, cv=3, error_score="raise")
    assert scores.shape == (3,)
    assert np.all((0 <= scores) & (scores <= 1))


@pytest.mark.parametrize("kind", KINDS)
def test_clone_keeps_params_and_drops_the_fit(kind):
    estimator, X, y = make_case(kind, epsilon=3.0)
    estimator.fit(X, y)
    twin = clone(estimator)
    assert twin.get_params() == estimator.get_params()
    assert not hasattr(twin, "module_") and not hasattr(twin, "epsilon_")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dump, load", [(pickle.dumps, pickle.loads), ("joblib", "joblib")])
def test_persistence_round_trip_gives_identical_probabilities(kind, dump, load):
    clf, X, y = make_case(kind)
    clf.fit(X, y)
    if dump == "joblib":
        buffer = io.BytesIO()
        joblib.dump(clf, buffer)
        buffer.seek(0)
        restored = joblib.load(buffer)
    else:
        restored = load(dump(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert restored.epsilon_ == clf.epsilon_


@pytest.mark.parametrize("kind", KINDS)
def test_fitted_estimator_holds_no_opacus_state(kind):
    clf, X, y = make_case(kind)
    clf.fit(X, y)
    for module in clf.module_.modules():
        assert not module._forward_hooks and not module._backward_hooks
        assert not module._forward_pre_hooks
    for parameter in clf.module_.parameters():
        assert not hasattr(parameter, "grad_sample")
    assert type(clf.net_.optimizer_).__module__.startswith("torch.optim")
    assert clf.net_.module_ is clf.module_
    pickled = pickle.dumps(clf).decode("latin-1")
    # Opacus' DPLSTM is a plain module of the network; nothing else of Opacus may stay.
    assert "opacus" not in pickled.replace("opacus.layers", "")


@pytest.mark.parametrize("kind", KINDS)
def test_same_random_state_gives_identical_predictions(kind):
    clf, X, y = make_case(kind)
    first = clone(clf).set_params(random_state=7).fit(X, y).predict_proba(X)
    second = clone(clf).set_params(random_state=7).fit(X, y).predict_proba(X)
    other = clone(clf).set_params(random_state=8).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_fit_leaves_global_torch_rng_alone(numeric_data):
    import torch

    X, y = numeric_data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _clf(bounds=(-1, 1)).fit(X, y)
    torch.testing.assert_close(torch.rand(3), expected)


def test_attention_over_features(mixed_frame):
    X, y = mixed_frame
    clf = _clf(**PUBLIC).fit(X, y)
    attention = clf.attention(X.iloc[:10])
    assert attention.shape == (10, 4)
    assert np.all(attention >= 0)
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, rtol=1e-5)


def test_multiclass_string_labels(numeric_data):
    X, _ = numeric_data
    y = np.array(["low", "mid", "high"])[np.digitize(X[:, 0], [-0.3, 0.3])]
    clf = _clf(bounds=(-1, 1), epsilon=np.inf, max_epochs=20, classes=["low", "mid", "high"]).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, ["high", "low", "mid"])
    assert clf.decision_function(X).shape == (len(X), 3)
    assert clf.score(X, y) > 0.6


def test_verbose_shows_progress_and_epsilon(numeric_data, capsys):
    X, y = numeric_data
    _clf(bounds=(-1, 1), verbose=1).fit(X, y)
    out = capsys.readouterr()
    text = out.out + out.err
    # The ε spent so far, never a loss: an un-noised statistic of the training rows.
    assert "epsilon" in text and "loss" not in text


def test_silent_by_default(numeric_data, capsys):
    X, y = numeric_data
    _clf(bounds=(-1, 1)).fit(X, y)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_numeric_only_and_categorical_only_frames(mixed_frame):
    X, y = mixed_frame
    _clf(bounds=PUBLIC["bounds"]).fit(X[["age", "income"]], y).predict(X[["age", "income"]])
    only_categorical = X[["color", "size"]]
    _clf(categories="from_dtype").fit(only_categorical, y).predict(only_categorical)


def test_string_columns_are_categorical_from_dtype(mixed_frame):
    X, y = mixed_frame
    X = X.astype({"color": object, "size": "string"})
    clf = _clf(**PUBLIC).fit(X, y)
    np.testing.assert_array_equal(clf.is_categorical_, [False, True, False, True])
    assert pd.api.types.is_object_dtype(clf.categories_[0])
