"""Bad input gets a clear error and leaves a previous fit intact."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from sk_privattn import DPAttentionClassifier, PrivacyLeakWarning

from _settings import FAST_PARAMS
from conftest import PUBLIC

pytestmark = pytest.mark.filterwarnings("ignore::sk_privattn.exceptions.PrivacyLeakWarning")


def _clf(**params):
    return DPAttentionClassifier(**{**FAST_PARAMS, "random_state": 0, "classes": [0, 1], **params})


@pytest.fixture(scope="module")
def fitted():
    X = np.random.RandomState(0).uniform(-1, 1, size=(120, 3))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = _clf(bounds=(-1, 1)).fit(X, y)
    return clf, X, y


def _with_bad(X, value):
    X = X.copy()
    X[3, 1] = value
    return X


BAD_FITS = {
    "one class": (lambda X, y: (X, np.zeros_like(y)), {"classes": "data"}, ValueError, "only one class"),
    "one class released": (lambda X, y: (X, np.zeros_like(y)), {"classes": None}, ValueError,
                           "released 1 class.*fewer than the two a classifier needs.*Pass the public classes"),
    "empty X": (lambda X, y: (X[:0], y[:0]), {}, ValueError, "0 sample"),
    "length mismatch": (lambda X, y: (X, y[:-1]), {}, ValueError, "inconsistent numbers of samples"),
    "epsilon zero": (lambda X, y: (X, y), {"epsilon": 0.0}, ValueError, "'epsilon' parameter .* Got 0.0"),
    "epsilon negative": (lambda X, y: (X, y), {"epsilon": -1.0}, ValueError, "'epsilon' parameter"),
    "epsilon nan": (lambda X, y: (X, y), {"epsilon": np.nan}, ValueError, "'epsilon' parameter .* Got nan"),
    "delta zero": (lambda X, y: (X, y), {"delta": 0.0}, ValueError, "'delta' parameter"),
    "delta one": (lambda X, y: (X, y), {"delta": 1.0}, ValueError, "'delta' parameter"),
    "max_grad_norm negative": (lambda X, y: (X, y), {"max_grad_norm": -1.0}, ValueError, "'max_grad_norm' parameter"),
    "accountant": (lambda X, y: (X, y), {"accountant": "moments"}, ValueError, "'accountant' parameter"),
    "heads": (lambda X, y: (X, y), {"d_token": 10, "n_heads": 4}, ValueError, "d_token=10 must be divisible by n_heads=4"),
    "bounds swapped": (lambda X, y: (X, y), {"bounds": (1, -1)}, ValueError, "lower bound exceeds the upper bound"),
    "bounds length": (lambda X, y: (X, y), {"bounds": ([0, 0], [1, 1])}, ValueError, "bounds"),
    "device": (lambda X, y: (X, y), {"device": "cuda:7"}, ValueError, "no CUDA device"),
    "categorical index": (lambda X, y: (X, y), {"categorical_features": [5]}, ValueError, "index 5"),
    "architecture": (lambda X, y: (X, y), {"architecture": "transformer"}, ValueError, "'architecture' parameter"),
    "polynomial with two blocks": (lambda X, y: (X, y), {"architecture": "polynomial", "n_layers": 2}, ValueError,
                                   "architecture='polynomial' has one attention block.*got n_layers=2"),
    "polynomial with piecewise": (lambda X, y: (X, y), {"architecture": "polynomial", "numeric_encoding": "piecewise"},
                                  ValueError, "numeric_encoding='piecewise'.*Use numeric_encoding='linear\\+log'"),
}


@pytest.mark.parametrize("case", list(BAD_FITS))
def test_bad_fit_raises_clearly_and_keeps_the_previous_fit(fitted, case):
    clf, X, y = fitted
    make_data, params, error, match = BAD_FITS[case]
    before = clf.predict_proba(X)
    state = dict(clf.__dict__)
    X_bad, y_bad = make_data(X, y)
    clf.set_params(**params)
    try:
        with pytest.raises(error, match=match):
            clf.fit(X_bad, y_bad)
    finally:
        clf.set_params(**{name: state[name] for name in params})
    assert clf.__dict__.keys() == state.keys()
    assert clf.epsilon_ == state["epsilon_"] and clf.module_ is state["module_"]
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_delta_at_or_above_one_over_n_warns_but_fits(fitted):
    _, X, y = fitted
    with pytest.warns(UserWarning, match=r"delta=0.01 is not below 1/n=0.00833 for the count of training rows "
                                         r"n=120 \(public_count\)"):
        clf = _clf(bounds=(-1, 1), delta=0.01, public_count=120).fit(X, y)
    assert clf.delta_ == 0.01


def test_wrong_number_of_features_at_predict(fitted):
    clf, X, _ = fitted
    with pytest.raises(ValueError, match="X has 2 features, but DPAttentionClassifier is expecting 3"):
        clf.predict(X[:, :2])


def test_infinity_is_clipped_to_the_bounds_silently(fitted):
    """An infinite value is clipped to its feature's bounds, as any value outside them, at fit and at
    predict, without an error or a warning (one row must not make a fit raise: docs/privacy.md)."""
    clf, X, y = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="DP-SGD will likely learn little")
        np.testing.assert_array_equal(clf.predict_proba(_with_bad(X, -np.inf)), clf.predict_proba(_with_bad(X, -1.0)))
        refitted = _clf(bounds=(-1, 1), max_epochs=1).fit(_with_bad(X, np.inf), y)
    assert refitted.predict_proba(X).shape == (len(X), 2)


def test_sparse_input_points_to_categories(fitted):
    import scipy.sparse

    clf, X, y = fitted
    with pytest.raises(TypeError, match="sparse matrix X, such as OneHotEncoder returns.*categories="):
        _clf().fit(scipy.sparse.csr_matrix(X), y)


def test_predict_before_fit():
    X = np.zeros((2, 3))
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function", "attention"):
        with pytest.raises(NotFittedError):
            getattr(DPAttentionClassifier(), method)(X)


def test_unseen_and_missing_categories_at_predict_work(mixed_frame):
    X, y = mixed_frame
    clf = _clf(**PUBLIC).fit(X, y)
    new = X.iloc[:4].astype({"color": object, "size": object})
    new.loc[new.index[0], "color"] = "purple"
    new.loc[new.index[1], "size"] = None
    new.loc[new.index[2], "color"] = np.nan
    proba = clf.predict_proba(new)
    assert proba.shape == (4, 2) and np.all(np.isfinite(proba))
    codes = clf._encoder.transform(new.to_numpy(dtype=object))[1]
    assert codes[0, 0] == 0 and codes[1, 1] == 0 and codes[2, 0] == 0
    assert codes[3, 0] > 0


def test_values_outside_public_categories_map_to_unknown(mixed_frame):
    X, y = mixed_frame
    clf = _clf(bounds=PUBLIC["bounds"], categories={"color": ["red"], "size": ["S", "M", "L", "XL"]}).fit(X, y)
    codes = clf._encoder.transform(X.to_numpy(dtype=object))[1]
    np.testing.assert_array_equal(codes[:, 0] == 1, X["color"].to_numpy() == "red")
    np.testing.assert_array_equal(codes[:, 0] == 0, X["color"].to_numpy() != "red")


def test_missing_categorical_values_in_fit(mixed_frame):
    X, y = mixed_frame
    X = X.astype({"color": object})
    X.loc[X.index[:10], "color"] = None
    clf = _clf(**PUBLIC).fit(X, y)
    assert clf.predict(X).shape == (len(X),)


def test_non_numeric_column_not_declared_categorical():
    """A schema error, read from the dtype: a string column among the numeric features raises."""
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": pd.array(["x", "y", "x", "y"], dtype="string")})
    with pytest.raises(ValueError, match="The numeric feature 'b' has dtype string.*name it in categorical_features"):
        _clf(categorical_features=None).fit(X, [0, 1, 0, 1])


def test_a_value_that_is_not_a_number_in_a_numeric_column_is_missing_silently():
    X = pd.DataFrame({"a": np.array([1.0, "forty", None, 4.0] * 30, dtype=object)})
    y = np.arange(len(X)) % 2
    clf = _clf(categorical_features=None, bounds=(0, 5), max_epochs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="DP-SGD will likely learn little")
        clf.fit(X, y)
    missing = clf._encoder.transform(X.to_numpy())[0]
    np.testing.assert_array_equal(missing[1], missing[2])  # "forty" is encoded as the missing None


def test_categories_with_wrong_length(mixed_frame):
    X, y = mixed_frame
    with pytest.raises(ValueError, match="categories has 1 entries but X has 2 categorical features"):
        _clf(bounds=PUBLIC["bounds"], categories=[["red"]]).fit(X, y)


def test_categories_dict_missing_a_feature(mixed_frame):
    X, y = mixed_frame
    with pytest.raises(ValueError, match="categories has no entry for feature 'size'"):
        _clf(bounds=PUBLIC["bounds"], categories={"color": ["red"]}).fit(X, y)


def test_categorical_names_without_feature_names(fitted):
    _, X, y = fitted
    with pytest.raises(ValueError, match="X has no feature names"):
        _clf(categorical_features=["a"]).fit(X, y)


def test_classes_read_from_y_are_warned_and_rows_of_other_labels_weigh_zero(fitted):
    _, X, y = fitted
    with pytest.warns(PrivacyLeakWarning, match=r"labels present in y \(0, 1\) were read .* pass classes"):
        DPAttentionClassifier(**FAST_PARAMS, bounds=(-1, 1), classes="data", random_state=0).fit(X, y)
    # A public list may hold labels that y lacks.
    clf = _clf(bounds=(-1, 1), classes=[0, 1, 2]).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict_proba(X).shape == (len(X), 3)
    # A row whose label is outside the public classes, or missing, stays in the Poisson sampling
    # with weight 0, silently: whether one row holds such a label must not show.
    labels = np.where(np.arange(len(y)) % 7 == 0, np.nan, y.astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="DP-SGD will likely learn little")
        clf = _clf(bounds=(-1, 1), classes=[0, 2]).fit(X, labels)
        encoded = clf._encode(X, labels)
    np.testing.assert_array_equal(encoded.dataset.row_weight.numpy(), (labels == 0).astype(np.float32))
    with pytest.raises(ValueError, match=r"classes holds one label \(\[1\]\); a classifier needs at least two"):
        _clf(bounds=(-1, 1), classes=[1]).fit(X, y)


