"""Tests for sk_privattn.datasets.load_adult."""

import gzip
import sys
from importlib import resources

import numpy as np
import pytest

from sk_privattn.datasets import load_adult

pd = pytest.importorskip("pandas")

FEATURE_NAMES = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
]
CATEGORICAL = [
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native-country",
]
NUMERIC = [name for name in FEATURE_NAMES if name not in CATEGORICAL]
N_SAMPLES = {"train": 32_561, "test": 16_281, "all": 48_842}
FILES = {"train": "adult.data.gz", "test": "adult.test.gz"}


def _raw_rows(subset):
    """Rows of a shipped file, split by hand, independently of the loader."""
    path = resources.files("sk_privattn.datasets").joinpath("data", FILES[subset])
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    return [line.split(", ") for line in lines if line and not line.startswith("|")]


@pytest.fixture(scope="module", params=["train", "test"])
def frame_bunch(request):
    return request.param, load_adult(subset=request.param, as_frame=True)


@pytest.mark.parametrize("subset", ["train", "test", "all"])
@pytest.mark.parametrize("as_frame", [False, True])
def test_shapes_and_positive_rate(subset, as_frame):
    X, y = load_adult(subset=subset, return_X_y=True, as_frame=as_frame)
    assert X.shape == (N_SAMPLES[subset], 14)
    assert y.shape == (N_SAMPLES[subset],)
    assert set(np.unique(np.asarray(y))) == {0, 1}
    assert 0.23 < float(np.mean(y)) < 0.25


def test_bunch_contents():
    adult = load_adult()
    expected_keys = {
        "data",
        "target",
        "frame",
        "feature_names",
        "target_names",
        "classes",
        "categories",
        "bounds",
        "DESCR",
    }
    assert set(adult.keys()) == expected_keys
    assert adult.feature_names == FEATURE_NAMES
    assert adult.target_names == ["<=50K", ">50K"]
    assert adult.frame is None
    assert sorted(adult.categories) == sorted(CATEGORICAL)
    assert sorted(adult.bounds) == sorted(NUMERIC)
    assert "10.24432/C5XW20" in adult.DESCR
    assert "CC BY 4.0" in adult.DESCR
    assert "Extraction was done by Barry Becker" in adult.DESCR


def test_return_X_y_matches_bunch():
    adult = load_adult(subset="test")
    X, y = load_adult(subset="test", return_X_y=True)
    np.testing.assert_array_equal(y, adult.target)
    assert X.dtype == object
    assert y.dtype == np.int64


def test_all_is_train_then_test():
    y_all = load_adult(subset="all", return_X_y=True)[1]
    y_train = load_adult(subset="train", return_X_y=True)[1]
    y_test = load_adult(subset="test", return_X_y=True)[1]
    np.testing.assert_array_equal(y_all, np.concatenate([y_train, y_test]))


@pytest.mark.parametrize("subset", ["train", "test"])
def test_target_parsed_from_raw_labels(subset):
    raw_labels = [row[-1] for row in _raw_rows(subset)]
    if subset == "test":
        assert all(label.endswith(".") for label in raw_labels)
    expected = [int(label.rstrip(".") == ">50K") for label in raw_labels]
    y = load_adult(subset=subset, return_X_y=True)[1]
    np.testing.assert_array_equal(y, expected)


def test_frame_dtypes_and_names(frame_bunch):
    _, adult = frame_bunch
    X, y = adult.data, adult.target
    assert list(X.columns) == FEATURE_NAMES
    for name in NUMERIC:
        assert X[name].dtype == np.float64
    for name in CATEGORICAL:
        assert isinstance(X[name].dtype, pd.CategoricalDtype)
        assert list(X[name].cat.categories) == adult.categories[name]
    assert y.name == "income>50K"
    assert list(adult.frame.columns) == FEATURE_NAMES + ["income>50K"]


def test_train_and_test_share_public_categories():
    X_train = load_adult(subset="train", as_frame=True, return_X_y=True)[0]
    X_test = load_adult(subset="test", as_frame=True, return_X_y=True)[0]
    for name in CATEGORICAL:
        assert X_train[name].dtype == X_test[name].dtype


def test_categories_parsed_from_schema():
    categories = load_adult().categories
    assert categories["sex"] == ["Female", "Male"]
    assert len(categories["education"]) == 16
    assert len(categories["native-country"]) == 41
    assert "Outlying-US(Guam-USVI-etc)" in categories["native-country"]
    for values in categories.values():
        assert all(value == value.strip() for value in values)


@pytest.mark.parametrize("subset", ["train", "test"])
def test_every_raw_category_is_public_or_missing(subset):
    categories = load_adult().categories
    rows = _raw_rows(subset)
    for name in CATEGORICAL:
        column = {row[FEATURE_NAMES.index(name)] for row in rows}
        assert column - {"?"} <= set(categories[name]), name


def test_missing_values_become_nan(frame_bunch):
    subset, adult = frame_bunch
    rows = _raw_rows(subset)
    X_array = load_adult(subset=subset).data
    n_missing_total = 0
    for index, name in enumerate(FEATURE_NAMES):
        n_raw_missing = sum(row[index] == "?" for row in rows)
        n_missing_total += n_raw_missing
        assert adult.data[name].isna().sum() == n_raw_missing, name
        assert pd.isna(X_array[:, index]).sum() == n_raw_missing, name
    assert n_missing_total > 0
    assert not adult.data[NUMERIC].isna().any().any()


def test_array_and_frame_agree(frame_bunch):
    subset, adult = frame_bunch
    X_array = load_adult(subset=subset).data
    for index, name in enumerate(FEATURE_NAMES):
        from_frame = adult.data[name].astype(object).to_numpy()
        from_array = X_array[:, index]
        missing = pd.isna(from_frame)
        np.testing.assert_array_equal(pd.isna(from_array), missing, err_msg=name)
        np.testing.assert_array_equal(from_array[~missing], from_frame[~missing])


def test_public_bounds_cover_data(frame_bunch):
    _, adult = frame_bunch
    for name, (low, high) in adult.bounds.items():
        assert low < high
        values = adult.data[name]
        assert values.between(low, high).all(), (name, values.min(), values.max())


def test_bunch_metadata_is_a_copy():
    adult = load_adult()
    adult.categories["sex"].append("Other")
    adult.bounds["age"] = (0.0, 1.0)
    fresh = load_adult()
    assert fresh.categories["sex"] == ["Female", "Male"]
    assert fresh.bounds["age"] == (17.0, 90.0)


def test_invalid_subset():
    with pytest.raises(ValueError, match=r"subset must be one of .*got 'validation'"):
        load_adult(subset="validation")


def test_as_frame_without_pandas(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        load_adult(as_frame=True)
    X, _ = load_adult(return_X_y=True)
    assert X.shape == (32_561, 14)
