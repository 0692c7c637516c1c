"""Missing numbers are a learned token of their own, and the everyday shapes of real tables fit."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from sk_privattn import DPAttentionClassifier, DPAttentionRegressor, PrivacyLeakWarning

from _settings import FAST_PARAMS
from conftest import fit_recording_leaks


def _clf(**params):
    return DPAttentionClassifier(**{**FAST_PARAMS, "random_state": 0, "classes": [0, 1], **params})


def _frame_with_missing(n_samples=240, seed=0):
    """NaN in a float column, pd.NA in nullable Float64 and Int64 columns, a bool and an int-coded ward."""
    rng = np.random.RandomState(seed)
    income = rng.uniform(0, 100, n_samples)
    X = pd.DataFrame(
        {
            "age": pd.array(np.where(rng.rand(n_samples) < 0.2, None, rng.uniform(18, 80, n_samples)), dtype="Float64"),
            "children": pd.array(np.where(rng.rand(n_samples) < 0.1, None, rng.randint(0, 5, n_samples)), dtype="Int64"),
            "income": np.where(rng.rand(n_samples) < 0.3, np.nan, income),
            "smoker": rng.rand(n_samples) < 0.5,
            "ward": rng.choice([1, 2, 3], n_samples),
        }
    )
    return X, (income > 50).astype(int)


PUBLIC = dict(bounds={"age": (18, 80), "children": (0, 5), "income": (0, 100)}, categories={"ward": [1, 2, 3]})


def test_nan_none_and_pd_na_fit_and_predict_without_a_leak():
    X, y = _frame_with_missing()
    clf = _clf(**PUBLIC)
    assert fit_recording_leaks(clf, X, y) == []
    # The int-coded ward is categorical because categories names it; the bool column too, with
    # its two values as public categories.
    np.testing.assert_array_equal(clf.is_categorical_, [False, False, False, True, True])
    assert [list(c) for c in clf.categories_] == [[False, True], [1, 2, 3]]
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float64 and np.all(np.isfinite(proba))
    everything_missing = X.iloc[:3].copy()
    everything_missing[["age", "children"]] = pd.NA
    everything_missing["income"] = np.nan
    assert np.all(np.isfinite(clf.predict_proba(everything_missing)))


def test_a_missing_value_gets_its_features_own_token():
    X, y = _frame_with_missing()
    clf = _clf(**PUBLIC).fit(X, y)
    x_num, x_cat = clf._encoder.transform(clf._validate_X(X.iloc[:8], reset=False)[0])
    tokenizer = clf.module_.tokenizer
    with torch.no_grad():
        tokens = tokenizer(torch.from_numpy(x_num), torch.from_numpy(x_cat))
    missing_income = np.isnan(X["income"].iloc[:8].to_numpy())
    assert missing_income.any() and not missing_income.all()
    income = 3  # [CLS], age, children, income
    missing_row = tokenizer.table.weight[1 + tokenizer.n_numeric + 2]
    for row, missing in enumerate(missing_income):
        assert torch.equal(tokens[row, income], missing_row) == missing
    # Row-local: a row's tokens do not depend on the other rows.
    with torch.no_grad():
        alone = tokenizer(torch.from_numpy(x_num[2:3]), torch.from_numpy(x_cat[2:3]))
    torch.testing.assert_close(alone[0], tokens[2])


def test_regressor_takes_missing_values_too():
    X, _ = _frame_with_missing()
    target = X["income"].fillna(50).to_numpy() / 10
    reg = DPAttentionRegressor(**{**FAST_PARAMS, "random_state": 0, **PUBLIC, "target_bounds": (0, 10)}).fit(X, target)
    assert np.all(np.isfinite(reg.predict(X)))


def test_bounds_read_from_data_skip_missing_values():
    X, y = _frame_with_missing()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        clf = _clf(bounds="data", categories=PUBLIC["categories"]).fit(X, y)
    assert np.all(np.isfinite(clf.bounds_))
    np.testing.assert_allclose(clf.bounds_[2], [np.nanmin(X["income"]), np.nanmax(X["income"])])


def test_bounds_as_a_list_of_pairs_and_prefixed_column_names():
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    X, y = _frame_with_missing()
    pairs = [PUBLIC["bounds"][name] for name in ("age", "children", "income")]
    by_list = _clf(bounds=pairs, categories=PUBLIC["categories"]).fit(X, y)
    by_dict = _clf(**PUBLIC).fit(X, y)
    np.testing.assert_array_equal(by_list.bounds_, by_dict.bounds_)
    np.testing.assert_array_equal(by_list.predict_proba(X), by_dict.predict_proba(X))
    # set_output(transform="pandas") names the columns "<step>__<column>": the keys still match.
    passthrough = ColumnTransformer([("raw", "passthrough", list(X.columns))]).set_output(transform="pandas")
    pipe = make_pipeline(passthrough, _clf(**PUBLIC))
    assert fit_recording_leaks(pipe, X, y) == []
    assert list(pipe[-1].feature_names_in_) == [f"raw__{name}" for name in X.columns]


def test_predictions_do_not_depend_on_the_other_rows_predicted():
    """scikit-learn's subset-invariance check, at its tolerance, on a regressor with a wide range."""
    X, _ = _frame_with_missing(n_samples=600)
    target = np.linspace(0, 1e4, len(X))
    reg = DPAttentionRegressor(**{**FAST_PARAMS, "random_state": 0, **PUBLIC, "target_bounds": (0, 1e4)}).fit(X, target)
    full = reg.predict(X)
    for size in (1, 7, 100, 513):
        parts = np.concatenate([reg.predict(X.iloc[i : i + size]) for i in range(0, len(X), size)])
        np.testing.assert_array_equal(parts, full)


@pytest.mark.filterwarnings("ignore:DP-SGD will likely learn little")
def test_federated_classifier_takes_missing_values_too():
    pytest.importorskip("flwr")
    from sk_privattn.federated import FederatedDPAttentionClassifier

    X, y = _frame_with_missing(n_samples=180)
    site = np.repeat(["north", "south"], 90)
    clf = FederatedDPAttentionClassifier(
        epsilon=2.0, n_rounds=1, d_token=8, n_heads=2, n_layers=1, classes=[0, 1], accountant="rdp",
        backend="in-process", random_state=0, **PUBLIC,
    ).fit(X, y, groups=site)
    everything_missing = X.iloc[:3].copy()
    everything_missing[["age", "children"]] = pd.NA
    everything_missing["income"] = np.nan
    assert np.all(np.isfinite(clf.predict_proba(everything_missing)))


def test_encoding_in_chunks_gives_the_encoding_of_the_whole(monkeypatch):
    # The encoder works through the rows a chunk at a time, so that its working memory does not
    # grow with n; each row's encoding is its own, so the chunks change nothing.
    import sk_privattn.preprocessing as preprocessing

    X, y = _frame_with_missing(n_samples=100)
    clf = _clf(**PUBLIC, numeric_encoding="piecewise").fit(X, y)
    X_valid, _ = clf._validate_X(X, reset=False)
    whole = clf._encoder.transform(X_valid)
    monkeypatch.setattr(preprocessing, "ENCODE_CHUNK_ROWS", 7)
    chunked = clf._encoder.transform(X_valid)
    for a, b in zip(whole, chunked):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bounds", ["public", "read"])
def test_a_large_frame_validated_chunk_by_chunk_fits_the_same_model(monkeypatch, bounds):
    # A DataFrame of more than ENCODE_CHUNK_ROWS rows is validated a chunk of rows at a time
    # instead of as one array of all its cells; the model must not notice.
    import sk_privattn._tabular as tabular
    import sk_privattn.preprocessing as preprocessing
    from sk_privattn import PrivacyLedger
    from sk_privattn.privacy._recording import row_fingerprints

    X, y = _frame_with_missing()
    params = PUBLIC if bounds == "public" else {"categories": PUBLIC["categories"]}

    def fit_and_fingerprint():
        with warnings.catch_warnings(), PrivacyLedger():
            warnings.simplefilter("ignore", PrivacyLeakWarning)
            clf = _clf(**params).fit(X, y)
        X_valid, _ = clf._validate_X(X, reset=False)
        return clf, row_fingerprints(X_valid, y, b"key")

    whole, whole_rows = fit_and_fingerprint()
    monkeypatch.setattr(preprocessing, "ENCODE_CHUNK_ROWS", 7)
    chunked, chunked_rows = fit_and_fingerprint()
    assert isinstance(chunked._validate_X(X, reset=False)[0], tabular._RowChunks)
    np.testing.assert_array_equal(chunked.bounds_, whole.bounds_)
    np.testing.assert_array_equal(chunked.predict_proba(X), whole.predict_proba(X))
    np.testing.assert_array_equal(chunked_rows, whole_rows)
    # Feature names are still checked, and y as validate_data checks it.
    with pytest.raises(ValueError, match="feature names"):
        chunked.predict(X.rename(columns={"age": "Age"}))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _clf(**PUBLIC).fit(X, y[:-1])
