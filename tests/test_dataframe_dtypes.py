"""Every pandas dtype family that a user's frame may hold, mixed in one frame.

scikit-learn's validation casts a frame that holds an extension dtype (``Int64``,
``Float64``, ``boolean``, ``str``, pyarrow-backed) to one numeric dtype, and so failed
on a category column beside one nullable numeric column ("Cannot cast str dtype to
float64"). The estimators convert each extension column as numpy holds it first
(:func:`sk_privattn.preprocessing.numpy_backed`): a frame of any mix must fit, and
train exactly the model that its numpy-backed twin trains.
"""

import numpy as np
import pytest

from _settings import FAST_PARAMS
from sk_privattn import DPAttentionClassifier

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")

N = 240

BOUNDS = {"int_nullable": (0, 50), "float_nullable": (-3, 3), "int_arrow": (0, 9), "float_arrow": (-3, 3),
          "float": (-3, 3)}
CATEGORIES = {"str_arrow": ["a", "b"], "large_str_arrow": ["u", "v"], "str": ["x", "y", "z"], "string": ["p", "q"],
              "category": ["c1", "c2"], "object": ["o1", "o2"]}


def _columns(seed=0):
    """The values of each column, with missing values, as plain numpy arrays."""
    rng = np.random.RandomState(seed)
    gap = rng.rand(N) < 0.1
    return {
        "int_nullable": np.where(gap, np.nan, rng.randint(0, 50, N)),
        "float_nullable": np.where(np.roll(gap, 1), np.nan, rng.randn(N)),
        "bool_nullable": np.where(np.roll(gap, 2), None, rng.rand(N) < 0.5).astype(object),
        "int_arrow": rng.randint(0, 9, N).astype(float),
        "float_arrow": rng.randn(N),
        "str_arrow": np.where(np.roll(gap, 3), None, rng.choice(["a", "b"], N)).astype(object),
        "large_str_arrow": rng.choice(["u", "v"], N).astype(object),
        "bool_arrow": rng.rand(N) < 0.5,
        "str": rng.choice(["x", "y", "z"], N).astype(object),
        "string": rng.choice(["p", "q"], N).astype(object),
        "category": rng.choice(["c1", "c2"], N).astype(object),
        "bool": rng.rand(N) < 0.5,
        "float": rng.randn(N),
        "object": rng.choice(["o1", "o2"], N).astype(object),
    }


def extension_frame(columns):
    """Each column in its own dtype family: nullable, pyarrow-backed, ``str``, ``string``, category, bool."""
    return pd.DataFrame({
        "int_nullable": pd.array([None if np.isnan(v) else int(v) for v in columns["int_nullable"]], dtype="Int64"),
        "float_nullable": pd.array([None if np.isnan(v) else v for v in columns["float_nullable"]], dtype="Float64"),
        "bool_nullable": pd.array(columns["bool_nullable"], dtype="boolean"),
        "int_arrow": pd.Series(columns["int_arrow"].astype(int)).astype("int64[pyarrow]"),
        "float_arrow": pd.Series(columns["float_arrow"]).astype("double[pyarrow]"),
        "str_arrow": pd.Series(columns["str_arrow"]).astype("string[pyarrow]"),
        "large_str_arrow": pd.Series(columns["large_str_arrow"]).astype(pd.ArrowDtype(pa.large_string())),
        "bool_arrow": pd.Series(columns["bool_arrow"]).astype("bool[pyarrow]"),
        "str": pd.Series(columns["str"], dtype="str"),
        "string": pd.Series(columns["string"], dtype="string"),
        "category": pd.Categorical(columns["category"], categories=CATEGORIES["category"]),
        "bool": columns["bool"],
        "float": columns["float"],
        "object": pd.Series(columns["object"], dtype=object),
    })


def numpy_frame(columns):
    """The same values, in numpy dtypes only (float64 with NaN, object with None, bool).

    Its ``bool_nullable`` is an object column (True, False, None): categorical, but not of a
    boolean dtype, so its two categories are passed (:data:`TWIN_CATEGORIES`)."""
    frame = pd.DataFrame({name: pd.Series(values, dtype=values.dtype) for name, values in columns.items()})
    frame["category"] = pd.Categorical(columns["category"], categories=CATEGORIES["category"])
    return frame


TWIN_CATEGORIES = {**CATEGORIES, "bool_nullable": [False, True]}


def _labels(columns):
    return ((columns["float"] + (columns["string"] == "p")) > 0.5).astype(int)


def _params(categories=CATEGORIES):
    return dict(FAST_PARAMS, epsilon=1.0, random_state=0, classes=[0, 1], bounds=BOUNDS, categories=categories)


def test_a_frame_of_every_dtype_family_fits_as_its_numpy_twin():
    columns = _columns()
    y = _labels(columns)
    mixed, twin = extension_frame(columns), numpy_frame(columns)
    assert {str(dtype) for dtype in mixed.dtypes} >= {"Int64", "Float64", "boolean", "int64[pyarrow]", "str",
                                                       "category", "bool", "large_string[pyarrow]"}
    fitted = [DPAttentionClassifier(**_params()).fit(mixed, y),
              DPAttentionClassifier(**_params(TWIN_CATEGORIES)).fit(twin, y)]
    # The same columns are categorical (strings and booleans), with the same categories.
    expected = [name in CATEGORIES or name.startswith("bool") for name in mixed.columns]
    for clf in fitted:
        assert clf.is_categorical_.tolist() == expected
        assert list(clf.feature_names_in_) == list(mixed.columns)
    assert [c.tolist() for c in fitted[0].categories_] == [c.tolist() for c in fitted[1].categories_]
    for a, b in zip(fitted[0].module_.parameters(), fitted[1].module_.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    # Each fitted model predicts the rows of either frame alike.
    expected_proba = fitted[1].predict_proba(twin)
    np.testing.assert_array_equal(fitted[0].predict_proba(mixed), expected_proba)
    np.testing.assert_array_equal(fitted[0].predict_proba(twin), expected_proba)


def test_adult_with_one_nullable_numeric_column_fits():
    """The reported case: the bundled Adult frame (category columns) with `age` cast to Int64."""
    from sk_privattn.datasets import load_adult

    X, y = load_adult(as_frame=True, return_X_y=True)
    X, y = X.iloc[:400].copy(), np.asarray(y)[:400]
    plain = DPAttentionClassifier(**dict(FAST_PARAMS, epsilon=1.0, random_state=0, classes=[0, 1],
                                         bounds=(0, 1e5), categories="from_dtype")).fit(X, y)
    X["age"] = X["age"].astype("Int64")
    X.loc[X.index[:3], "age"] = pd.NA
    nullable = DPAttentionClassifier(**plain.get_params()).fit(X, y)
    assert nullable.predict_proba(X).shape == (400, 2)
    # Without the missing ages the two frames are the same rows: the models agree on them.
    rest = X.iloc[3:]
    np.testing.assert_array_equal(nullable.predict(rest), nullable.predict(rest.astype({"age": float})))
    assert nullable.n_features_in_ == plain.n_features_in_


def test_the_large_frame_path_converts_too(monkeypatch):
    """Frames of more than ENCODE_CHUNK_ROWS rows are validated a chunk at a time: same conversion."""
    from sk_privattn import preprocessing

    monkeypatch.setattr(preprocessing, "ENCODE_CHUNK_ROWS", 50)
    columns = _columns(seed=1)
    y = _labels(columns)
    fitted = [DPAttentionClassifier(**_params()).fit(extension_frame(columns), y),
              DPAttentionClassifier(**_params(TWIN_CATEGORIES)).fit(numpy_frame(columns), y)]
    np.testing.assert_array_equal(fitted[0].predict_proba(numpy_frame(columns)),
                                  fitted[1].predict_proba(numpy_frame(columns)))


@pytest.mark.parametrize("family", ["int_nullable", "float_nullable", "bool_nullable", "int_arrow", "float_arrow",
                                    "str_arrow", "large_str_arrow", "bool_arrow", "str", "string"])
def test_one_extension_column_beside_category_columns_fits_as_its_numpy_twin(family):
    """The reported shape: category columns and a single column of another family."""
    columns = _columns(seed=2)
    y = _labels(columns)
    names = [family, "category", "float"]
    fitted = [DPAttentionClassifier(**_params(categories)).fit(frame[names], y)
              for frame, categories in ((extension_frame(columns), CATEGORIES),
                                        (numpy_frame(columns), TWIN_CATEGORIES))]
    assert fitted[0].is_categorical_.tolist() == fitted[1].is_categorical_.tolist()
    np.testing.assert_array_equal(fitted[0].predict_proba(extension_frame(columns)[names]),
                                  fitted[1].predict_proba(numpy_frame(columns)[names]))
