"""pandas, polars and pyarrow inputs read alike through narwhals (sk_privattn.data._frames)."""

import datetime
import decimal

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from sk_privattn.data._frames import FrameColumns, read_frame, read_target


def assert_same_columns(got, expected):
    assert got.names == expected.names
    assert got.is_categorical.tolist() == expected.is_categorical.tolist()
    assert got.public_categories == expected.public_categories
    assert {k: set(v) for k, v in got.stored_categories.items()} == {
        k: set(v) for k, v in expected.stored_categories.items()
    }
    for name in got.names:
        a, b = got.values[name], expected.values[name]
        assert a.dtype == b.dtype, name
        if a.dtype == object:
            assert a.tolist() == b.tolist(), name
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)


def mixed_pandas():
    return pd.DataFrame(
        {
            "digits": pd.array(["1", "22", None], dtype="string"),
            "color": pd.Categorical(["red", None, "blue"]),
            "age": pd.array([31, None, 47], dtype="Int64"),
            "income": [1.5, np.nan, 3.0],
            "member": pd.array([True, None, False], dtype="boolean"),
        }
    )


def mixed_polars():
    return pl.DataFrame(
        {
            "digits": ["1", "22", None],
            "color": pl.Series(["red", None, "blue"], dtype=pl.Categorical),
            "age": [31, None, 47],
            "income": [1.5, float("nan"), 3.0],
            "member": [True, None, False],
        }
    )


def mixed_arrow():
    return pa.table(
        {
            "digits": pa.array(["1", "22", None]),
            "color": pa.array(["red", None, "blue"]).dictionary_encode(),
            "age": pa.array([31, None, 47]),
            "income": pa.array([1.5, None, 3.0]),
            "member": pa.array([True, None, False]),
        }
    )


def test_a_polars_string_column_of_digits_is_categorical():
    columns = read_frame(pl.DataFrame({"e": ["1", "2", "10"], "x": [0.5, 1.5, 2.5]}))
    assert columns.is_categorical.tolist() == [True, False]
    assert columns.values["e"].tolist() == ["1", "2", "10"]
    assert columns.values["x"].dtype == np.float64


def test_the_kinds_and_values_of_a_polars_frame():
    columns = read_frame(mixed_polars())
    assert columns.names == ("digits", "color", "age", "income", "member")
    assert columns.is_categorical.tolist() == [True, True, False, False, True]
    assert columns.values["digits"].tolist() == ["1", "22", None]
    assert columns.values["color"].tolist() == ["red", None, "blue"]
    np.testing.assert_array_equal(columns.values["age"], [31.0, np.nan, 47.0])
    np.testing.assert_array_equal(columns.values["income"], [1.5, np.nan, 3.0])
    assert columns.values["member"].tolist() == [True, None, False]
    assert columns.public_categories == {"member": (False, True)}
    assert set(columns.stored_categories["color"]) == {"red", "blue"}


def test_an_enum_has_public_categories_and_a_categorical_does_not():
    X = pl.DataFrame(
        {
            "tier": pl.Series(["b", None], dtype=pl.Enum(["a", "b", "c"])),
            "city": pl.Series(["Oslo", "Lima"], dtype=pl.Categorical),
        }
    )
    columns = read_frame(X)
    assert columns.public_categories == {"tier": ("a", "b", "c")}
    assert "tier" not in columns.stored_categories and "city" not in columns.public_categories
    assert columns.values["tier"].tolist() == ["b", None]


@pytest.mark.parametrize("make", [mixed_polars, mixed_arrow], ids=["polars", "pyarrow"])
def test_polars_and_arrow_read_as_the_equivalent_pandas_frame(make):
    assert_same_columns(read_frame(make()), read_frame(mixed_pandas()))


def test_arrow_dictionary_nulls_stay_missing():
    # pyarrow's own to_numpy() gives a dictionary column's null a category's value
    table = pa.table({"d": pa.array(["a", "b", None]).dictionary_encode(), "s": pa.array(["x", None, "z"])})
    columns = read_frame(table)
    assert columns.values["d"].tolist() == ["a", "b", None]
    assert columns.values["s"].tolist() == ["x", None, "z"]
    assert columns.stored_categories == {"d": ("a", "b")}


def test_pandas_dtypes_and_their_stored_categories():
    X = pd.DataFrame(
        {
            "c": pd.Categorical(["a", "b"], categories=["a", "b", "unseen"]),
            "o": np.array(["x", None], dtype=object),
            "b": [True, False],
            "i": [1, 2],
        }
    )
    columns = read_frame(X)
    assert columns.is_categorical.tolist() == [True, True, True, False]
    assert columns.stored_categories == {"c": ("a", "b", "unseen")}
    assert columns.public_categories == {"b": (False, True)}
    assert columns.values["o"].tolist() == ["x", None] and columns.values["i"].dtype == np.float64


def test_decimal_and_integer_columns_are_numeric():
    decimals = pa.array([decimal.Decimal("1.50"), None], pa.decimal128(5, 2))
    table = pa.table({"d": decimals, "u": pa.array([1, 2], pa.uint8())})
    columns = read_frame(table)
    assert columns.is_categorical.tolist() == [False, False]
    np.testing.assert_array_equal(columns.values["d"], [1.5, np.nan])


def test_as_array():
    assert read_frame(pl.DataFrame({"a": [1, 2], "b": [0.5, None]})).as_array().dtype == np.float64
    mixed = read_frame(pl.DataFrame({"a": [1, 2], "s": ["x", None]})).as_array()
    assert mixed.dtype == object and mixed.tolist() == [[1.0, "x"], [2.0, None]]
    assert read_frame(pl.DataFrame()).as_array().shape == (0, 0)


def test_non_frames_pass_through_untouched():
    X = np.arange(6.0).reshape(3, 2)
    assert read_frame(X) is X
    assert read_frame([[1, 2]]) == [[1, 2]]
    assert isinstance(read_frame(pl.DataFrame({"a": [1]})), FrameColumns)


@pytest.mark.parametrize(
    "X",
    [
        pl.DataFrame({"when": [datetime.date(2020, 1, 1)]}),
        pl.DataFrame({"nothing": [None, None]}),
        pd.DataFrame({"when": pd.to_datetime(["2020-01-01"])}),
        pl.DataFrame({"nested": [[1, 2]]}),
    ],
)
def test_columns_neither_numeric_nor_categorical_are_refused(X):
    with pytest.raises(TypeError, match=rf"Column '{X.columns[0]}' has dtype .* convert it"):
        read_frame(X)


def test_lazy_frames_are_refused():
    with pytest.raises(TypeError, match=r"X is a lazy frame .*X.collect\(\)"):
        read_frame(pl.LazyFrame({"a": [1]}))


# y ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "y",
    [
        pd.Series(["yes", None, "no"]),
        pd.Series(["yes", None, "no"], dtype="category"),
        pl.Series(["yes", None, "no"]),
        pl.Series(["yes", None, "no"], dtype=pl.Enum(["no", "yes"])),
        pa.array(["yes", None, "no"]),
        pa.chunked_array([["yes"], [None, "no"]]),
        pa.array(["yes", None, "no"]).dictionary_encode(),
    ],
)
def test_text_targets_are_object_arrays_with_none(y):
    values = read_target(y)
    assert values.dtype == object and values.tolist() == ["yes", None, "no"]


@pytest.mark.parametrize("y", [pd.Series([0, 1, 1]), pl.Series([0, 1, 1]), pa.array([0, 1, 1]), np.array([0, 1, 1])])
def test_integer_targets_keep_their_dtype(y):
    values = read_target(y)
    assert values.dtype.kind == "i" and values.tolist() == [0, 1, 1]


def test_missing_numbers_and_booleans():
    np.testing.assert_array_equal(read_target(pl.Series([1, None, 3])), [1.0, np.nan, 3.0])
    np.testing.assert_array_equal(read_target(pd.Series(pd.array([1, None], dtype="Int64"))), [1.0, np.nan])
    assert read_target(pl.Series([True, False])).dtype == bool
    assert read_target(pa.array([True, None])).tolist() == [True, None]
    assert read_target([2.5, 3.5]).tolist() == [2.5, 3.5]


def test_a_dataframe_is_not_a_target():
    with pytest.raises(TypeError, match=r"y must be one column; got a dataframe .*y\['target'\]"):
        read_target(pl.DataFrame({"target": [1, 0]}))
