"""The same estimator and the same fit(X, y) on pandas, polars, pyarrow and Dask inputs (issue 35):
the same ε for the same count and plan, the neighbouring contract on every path, nothing of Dask's
derived values in the fitted state, and clear refusals before any training."""

import contextlib
import io
import pickle
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sk_privattn import DPAttentionClassifier, DPAttentionRegressor, PrivacyLedger

from _settings import FAST_PARAMS
from conftest import PUBLIC, make_mixed_frame
from test_neighbouring import differences, forced_count, walk  # noqa: F401 (a fixture)

dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")
import dask  # noqa: E402

TABULAR = dict(FAST_PARAMS, epsilon=1.0, random_state=0, classes=[0, 1], **PUBLIC)


def _fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DPAttentionClassifier(**{**TABULAR, **params}).fit(X, y)


def _polars(X):
    """The frame in polars: text columns as String (categorical whatever their content)."""
    return pl.from_pandas(X.astype({"color": object, "size": object}))


def _dask(X, y, npartitions=3):
    return dd.from_pandas(X, npartitions=npartitions), dd.from_pandas(pd.Series(y, name="y"), npartitions=npartitions)


@pytest.fixture(scope="module")
def data():
    return make_mixed_frame(n_samples=150)


# polars and pyarrow: the estimator reads them as it reads pandas -----------------------------------


@pytest.mark.parametrize("convert", [_polars, lambda X: pa.Table.from_pandas(X, preserve_index=False)],
                         ids=["polars", "pyarrow"])
def test_polars_and_arrow_fit_and_predict_as_pandas_does(data, convert):
    X, y = data
    on_pandas, on_other = _fit(X, y), _fit(convert(X), pl.Series(y) if convert is _polars else pa.array(y))
    assert differences(on_pandas, on_other) == []
    assert list(on_other.feature_names_in_) == list(X.columns)
    np.testing.assert_array_equal(on_other.predict_proba(convert(X)), on_pandas.predict_proba(X))
    assert on_other.score(convert(X), y) == on_pandas.score(X, y)


def test_a_polars_string_column_of_digits_is_categorical():
    rng = np.random.default_rng(0)
    X = pl.DataFrame({"zip": rng.choice(["02139", "10001", "94103"], 120), "age": rng.uniform(18, 80, 120),
                      "tier": pl.Series(rng.choice(["a", "b"], 120), dtype=pl.Enum(["a", "b", "c"]))})
    y = (X["age"].to_numpy() > 50).astype(int)
    clf = _fit(X, y, bounds={"age": (18, 80)}, categories={"zip": ["02139", "10001", "94103"],
                                                           "tier": ["a", "b", "c"]})
    assert clf.is_categorical_.tolist() == [True, False, True]
    assert clf.categories_[0].tolist() == ["02139", "10001", "94103"]
    from_dtype = _fit(X.select("age", "tier"), y, bounds={"age": (18, 80)}, categories="from_dtype")
    assert from_dtype.categories_[0].tolist() == ["a", "b", "c"]  # an Enum's categories are its schema


# Dask: the same fit, one pass where the partitions live ---------------------------------------------


def test_every_path_gives_the_same_epsilon_for_the_same_count_and_plan(data):
    X, y = data
    with dask.config.set(scheduler="sync"):
        fits = [_fit(X, y, public_count=150), _fit(_polars(X), y, public_count=150),
                _fit(*_dask(X, y), public_count=150), _fit(*_dask(X, y, npartitions=5), public_count=150)]
    attributes = [(f.epsilon_, f.n_steps_, f.sample_rate_, f.noise_multiplier_, f.delta_) for f in fits]
    assert attributes.count(attributes[0]) == len(fits)


def test_a_dask_fit_trains_on_each_steps_sample_and_predicts_by_partition(data):
    X, y = data
    X_dask, y_dask = _dask(X, y)
    with dask.config.set(scheduler="sync"):
        fitted = _fit(X_dask, y_dask)
        proba = fitted.predict_proba(X_dask)
        assert fitted.score(X_dask, y_dask) == fitted.score(X, y)
    np.testing.assert_allclose(proba, fitted.predict_proba(X), rtol=1e-6)
    assert fitted.n_steps_ == len(fitted.history_) * fitted.n_steps_ // fitted.max_epochs_
    X_array = da.from_array(X[["age", "income"]].to_numpy(), chunks=(40, 2))
    with dask.config.set(scheduler="sync"):
        on_array = _fit(X_array, da.from_array(y, chunks=40), categories=None, bounds=[(18, 80), (0, 100)])
    assert on_array.n_features_in_ == 2 and on_array.predict(X_array).shape == (150,)


def _dask_fits(datasets, npartitions=3, **params):
    with dask.config.set(scheduler="sync"):
        return [_fit(*_dask(X, y, npartitions), **params) for X, y in datasets]


def _replaced(X, y):
    X_other, y_other = make_mixed_frame(n_samples=50, seed=1)
    other = int(np.flatnonzero(y_other != y[0])[0])
    X, y = X.copy(), y.copy()
    X.iloc[0], y[0] = X_other.iloc[other], y_other[other]
    return X, y


@pytest.mark.parametrize("path", ["polars", "pyarrow", "dask"])
def test_neighbouring_fits_differ_only_in_trainable_weights_on_every_path(data, path, forced_count):
    X, y = data
    datasets = [(X, y), _replaced(X, y), (X.iloc[:-1], y[:-1])]
    if path == "dask":
        fitted = _dask_fits(datasets)
    else:
        convert = _polars if path == "polars" else (lambda X: pa.Table.from_pandas(X, preserve_index=False))
        fitted = [_fit(convert(X), y) for X, y in datasets]
    assert differences(fitted[0], fitted[1]) == [] and differences(fitted[0], fitted[2]) == []
    assert walk(fitted[0]) != walk(fitted[1])


def test_printed_progress_of_a_dask_fit_is_the_same_for_neighbouring_data(data, forced_count):
    X, y = data
    printed = []
    for X_n, y_n in [(X, y), _replaced(X, y), (X.iloc[:-1], y[:-1])]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            _dask_fits([(X_n, y_n)], verbose=1)
        printed.append(out.getvalue())
    assert printed[0] == printed[1] == printed[2] and "epsilon" in printed[0]


@pytest.mark.parametrize("metadata", [{}, {"bounds": None, "categories": None}], ids=["public", "DP metadata"])
def test_nothing_that_dask_derives_from_the_data_reaches_the_fitted_state(data, metadata):
    X, y = data
    X = X.set_axis(np.arange(len(X)) * 7919 + 12345)  # an index whose divisions are easy to find
    X_dask, y_dask = dd.from_pandas(X, npartitions=3), dd.from_pandas(pd.Series(y, index=X.index), npartitions=3)
    with dask.config.set(scheduler="sync"):
        fitted = _fit(X_dask, y_dask, **metadata)
    stored = pickle.dumps(fitted)
    for key in {X_dask._name, y_dask._name, dask.base.tokenize(X_dask), dask.base.tokenize(X)}:
        assert key.encode() not in stored
    leaves = walk(fitted)
    for division in X_dask.divisions:
        assert not any(value == division for value in leaves.values() if isinstance(value, (int, np.integer)))
    assert "dask" not in repr(sorted(type(value).__module__ for value in vars(fitted).values()))


def test_person_level_needs_the_data_partitioned_by_person(data):
    X, y = data
    frame = X.assign(person=np.arange(len(X)) // 3, y=y)
    by_person = dd.from_pandas(frame.set_index("person"), npartitions=4)
    with dask.config.set(scheduler="sync"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = DPAttentionClassifier(**TABULAR, max_rows_per_person=2).fit(
                by_person.drop(columns="y"), by_person["y"], person_id="person")
        assert fitted.privacy_unit_ == "person"
        unsorted = dd.from_pandas(frame, npartitions=4)
        with pytest.raises(ValueError, match="needs the data partitioned by person.*set_index"):
            DPAttentionClassifier(**TABULAR).fit(unsorted.drop(columns=["y", "person"]), unsorted["y"],
                                                 person_id="person")


@pytest.mark.parametrize("params, match", [
    ({"bounds": "data"}, r"reads no metadata from the rows, but bounds='data' asks for it.*Leave bounds at None"),
    ({"classes": "data", "categories": "data"}, r"categories='data', classes='data'"),
])
def test_a_dask_fit_refuses_metadata_read_from_the_rows_before_any_count(data, params, match, monkeypatch):
    from sk_privattn import _base

    monkeypatch.setattr(_base, "count_partitioned", pytest.fail)
    with pytest.raises(ValueError, match=match):
        DPAttentionClassifier(**{**TABULAR, **params}).fit(*_dask(*data))
    regressor = DPAttentionRegressor(**{**FAST_PARAMS, **PUBLIC, "target_bounds": "data"})
    with pytest.raises(ValueError, match="target_bounds='data'"):
        regressor.fit(*_dask(data[0], data[1].astype(float)))


@pytest.fixture(scope="module")
def larger():
    """Rows enough that every range, category and class is released at the default noise."""
    X, y = make_mixed_frame(n_samples=3000, seed=2)
    X.loc[X.index[::50], "income"] = np.nan
    return X, y


def test_a_dask_fit_releases_the_metadata_that_a_fit_in_memory_of_the_same_rows_releases(larger):
    """No metadata given: the histograms summed over the partitions are those of the rows in memory,
    and the noise is the same for the same seed, so the releases are equal."""
    X, y = larger
    # The categorical columns named, as a schema would name them.
    params = dict(FAST_PARAMS, epsilon=2.0, public_count=3000, random_state=3, categorical_features=["color", "size"])
    in_memory = _fit(X, y, **params, bounds=None, categories=None, classes=None)
    with dask.config.set(scheduler="sync"):
        on_dask = _fit(*_dask(X, y, npartitions=4), **params, bounds=None, categories=None, classes=None)
    assert np.isfinite(in_memory.bounds_).all()
    np.testing.assert_array_equal(on_dask.bounds_, in_memory.bounds_)
    assert [list(c) for c in on_dask.categories_] == [list(c) for c in in_memory.categories_] != []
    assert on_dask.classes_.tolist() == in_memory.classes_.tolist() == [0, 1]
    assert on_dask.epsilon_ == in_memory.epsilon_ <= 2.0

    target = X["age"].to_numpy() + np.where(y == 1, 20.0, 0.0)
    regressors = []
    for inputs in [(X, target), _dask(X, target, npartitions=3)]:
        with dask.config.set(scheduler="sync"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            regressors.append(DPAttentionRegressor(**params, **PUBLIC).fit(*inputs))
    assert np.isfinite(regressors[0].target_bounds_).all()
    np.testing.assert_array_equal(regressors[1].target_bounds_, regressors[0].target_bounds_)


def test_a_dask_fit_at_person_level_releases_the_metadata_of_persons_as_in_memory(larger):
    """Partitioned by person, each partition weighs a person's rows 1/k and counts their most
    frequent category once, as the release in memory does."""
    X, y = larger
    person = np.arange(len(X)) // 3
    params = dict(FAST_PARAMS, epsilon=2.0, public_count=1000, random_state=1, bounds=None, categories=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        in_memory = DPAttentionClassifier(**{**TABULAR, **params}).fit(X, y, person_id=person)
        frame = dd.from_pandas(X.assign(person=person, y=y).set_index("person"), npartitions=4)
        with dask.config.set(scheduler="sync"):
            on_dask = DPAttentionClassifier(**{**TABULAR, **params}).fit(frame.drop(columns="y"), frame["y"],
                                                                        person_id="person")
    assert on_dask.privacy_unit_ == in_memory.privacy_unit_ == "person"
    assert np.isfinite(in_memory.bounds_).all()
    # Weights of 1/3 summed in another order: equal to the last bits of a float.
    np.testing.assert_allclose(on_dask.bounds_, in_memory.bounds_, rtol=1e-12)
    assert [list(c) for c in on_dask.categories_] == [list(c) for c in in_memory.categories_]


def test_a_dask_fit_refuses_what_it_cannot_run_privately(data, tmp_path):
    X, y = data
    X_dask, y_dask = _dask(X, y)
    with pytest.raises(TypeError, match="y must be one too"):
        _fit(X_dask, y)
    with pytest.raises(ValueError, match="sample_weight is not supported with a Dask X"):
        DPAttentionClassifier(**TABULAR).fit(X_dask, y_dask, sample_weight=np.ones(len(y)))
    with PrivacyLedger(tmp_path / "ledger"), pytest.raises(ValueError, match="PrivacyLedger or PrivacyBudget"):
        DPAttentionClassifier(**TABULAR).fit(X_dask, y_dask)


def test_a_parquet_file_of_another_schema_is_refused_before_training(data, tmp_path, monkeypatch):
    X, y = data
    frame = X.assign(color=X["color"].astype(object), size=X["size"].astype(object), y=y)
    pq.write_table(pa.Table.from_pandas(frame.iloc[:75], preserve_index=False), tmp_path / "part-0.parquet")
    wrong = frame.iloc[75:].assign(size=np.arange(75.0))  # a categorical column written as numbers
    pq.write_table(pa.Table.from_pandas(wrong, preserve_index=False), tmp_path / "part-1.parquet")
    table = dd.read_parquet(tmp_path)
    from sk_privattn.dpsgd import _train

    monkeypatch.setattr(_train, "train_module", pytest.fail)
    with dask.config.set(scheduler="sync"), pytest.raises(ValueError, match=r"Partition 1 has the columns .*size \(numeric\)"):
        _fit(table.drop(columns="y"), table["y"], public_count=150)
