"""Reading pandas, polars and pyarrow inputs alike: column kinds, categories and values.

The estimators need three things from a table: which columns are categorical,
which of their categories are public (so that nothing is spent or warned on
them), and the values as numpy arrays. Each dataframe library spells these
differently: a polars ``String`` column of digits is text and must stay
categorical, an Arrow dictionary column is pandas' ``category``, and each has
its own missing value. Rather than one branch per library, this module reads
every input through narwhals, a dataframe-agnostic layer over pandas, polars,
pyarrow (and modin, cuDF), with the same rules for all:

- categorical: ``String``, ``Categorical``, ``Enum``, ``Boolean`` and ``Object``
  columns (pandas ``object``/``str``/``string``/``category``/``bool``, polars
  ``String``/``Categorical``/``Enum``/``Boolean``, Arrow string, dictionary and
  bool columns), whatever their content;
- numeric: integer, float and decimal columns;
- anything else (dates, durations, nested types, polars' all-null ``Null``) is
  refused with the column's name and a fix.

Categories come in two kinds, kept apart so that the caller decides:

- *public by the dtype*: an ``Enum``'s categories and a boolean's two values,
  which are a schema, fixed before any row exists;
- *stored with the column*: pandas' categories, an Arrow dictionary, the values
  present in a polars ``Categorical`` (polars 2 keeps no other list). These
  usually come from the data, so they are not public unless the user says so.

narwhals is used through ``narwhals.stable.v2``: its stable API promises that
code written against it keeps working across narwhals releases, and v2 is the
one whose ``Enum`` carries its categories (narwhals >= 2.0).
"""

from dataclasses import dataclass

import narwhals.stable.v2 as nw
import numpy as np
from narwhals.dependencies import get_pyarrow, is_pandas_dataframe, is_pandas_series

__all__ = ["FrameColumns", "as_pandas", "is_pandas_like", "read_frame", "read_target"]

_CATEGORICAL_DTYPES = (nw.String, nw.Categorical, nw.Enum, nw.Boolean, nw.Object)


@dataclass(frozen=True)
class FrameColumns:
    """What the estimator reads from a dataframe.

    Attributes
    ----------
    names : tuple
        The column names, in order.
    is_categorical : ndarray of bool
        Whether each column is categorical.
    public_categories : dict
        For each categorical column whose dtype fixes its categories (an
        ``Enum``, a boolean), those categories, as a tuple.
    stored_categories : dict
        For each pandas/polars ``Categorical`` or Arrow dictionary column, the
        categories stored with it: usually derived from the data, so not public.
    values : dict of ndarray
        Each column's values: float64 with NaN for missing (numeric), or an
        object array with None for missing (categorical).
    """

    names: tuple
    is_categorical: np.ndarray
    public_categories: dict
    stored_categories: dict
    values: dict

    def as_array(self):
        """The values as one 2-D array: float64 when every column is numeric, else object."""
        dtype = object if self.is_categorical.any() else np.float64
        if not self.names:
            return np.zeros((0, 0), dtype=dtype)
        return np.column_stack([self.values[name].astype(dtype, copy=False) for name in self.names])

    def to_pandas(self):
        """A pandas DataFrame of the same columns, whose dtypes say what pandas' own would:
        numeric columns float64 (NaN missing), text ``object`` (None missing), booleans
        ``boolean``, and an ``Enum``, ``Categorical`` or dictionary column ``category`` with
        its public or stored categories (the estimators' ``categories="from_dtype"`` reads
        them)."""
        import pandas as pd

        columns = {}
        for name, categorical in zip(self.names, self.is_categorical):
            values = self.values[name]
            categories = self.public_categories.get(name, self.stored_categories.get(name))
            if not categorical:
                columns[name] = values
            elif categories is None:
                columns[name] = pd.Series(values, dtype=object)
            elif categories == (False, True):
                columns[name] = pd.array(values.tolist(), dtype="boolean")
            else:
                columns[name] = pd.Categorical(values, categories=list(categories))
        return pd.DataFrame(columns, columns=list(self.names))


def read_frame(X):
    """The :class:`FrameColumns` of a dataframe; any other ``X`` comes back untouched.

    Parameters
    ----------
    X : pandas.DataFrame, polars.DataFrame, pyarrow.Table, or other
        Any eager dataframe that narwhals reads. Other inputs (numpy arrays,
        lists) are returned as they are, for the usual validation.

    Returns
    -------
    FrameColumns, or ``X`` itself when it is not a dataframe.

    Raises
    ------
    TypeError
        For a lazy frame (polars ``LazyFrame``, Dask), and for a column whose
        dtype is neither numeric nor categorical.

    Examples
    --------
    >>> import polars as pl
    >>> from sk_privattn.data._frames import read_frame
    >>> X = pl.DataFrame({"zip": ["02139", "10001"], "age": [31, None],
    ...                   "tier": pl.Series(["b", "a"], dtype=pl.Enum(["a", "b", "c"]))})
    >>> columns = read_frame(X)
    >>> columns.is_categorical.tolist(), columns.public_categories
    ([True, False, True], {'tier': ('a', 'b', 'c')})
    >>> columns.values["zip"].tolist(), columns.values["age"].tolist()
    (['02139', '10001'], [31.0, nan])
    """
    frame = nw.from_native(X, eager_only=True, pass_through=True)
    if not isinstance(frame, nw.DataFrame):
        _refuse_lazy(X)
        return X
    names = tuple(frame.columns)
    kinds = [_column_kind(name, frame.schema[name]) for name in names]
    public, stored, values = {}, {}, {}
    for name, kind in zip(names, kinds):
        column = frame[name]
        values[name] = _object_values(column) if kind else _float_values(column)
        if isinstance(column.dtype, nw.Enum):
            public[name] = tuple(column.dtype.categories)
        elif isinstance(column.dtype, nw.Boolean):
            public[name] = (False, True)
        elif isinstance(column.dtype, nw.Categorical):
            stored[name] = tuple(value for value in column.cat.get_categories().to_list() if value is not None)
    return FrameColumns(names, np.array(kinds, dtype=bool), public, stored, values)


def as_pandas(X):
    """``X`` as the estimators read a table: a polars DataFrame, a pyarrow Table (any eager
    dataframe that narwhals reads) as the pandas DataFrame of :meth:`FrameColumns.to_pandas`;
    a pandas DataFrame, an array or a list as it is.

    Raises
    ------
    ImportError
        When ``X`` is such a dataframe and pandas is not installed.

    Examples
    --------
    >>> import polars as pl
    >>> from sk_privattn.data._frames import as_pandas
    >>> X = as_pandas(pl.DataFrame({"zip": ["02139", "10001"], "age": [31, None]}))
    >>> [str(dtype) for dtype in X.dtypes], X["zip"].tolist()
    (['object', 'float64'], ['02139', '10001'])
    """
    if is_pandas_dataframe(X):
        return X
    columns = read_frame(X)
    if not isinstance(columns, FrameColumns):
        return X
    try:
        return columns.to_pandas()
    except ImportError as error:
        raise ImportError(
            f"X is a {type(X).__module__}.{type(X).__name__}, which the estimators read through pandas: "
            "pip install 'sk_privattn[pandas]'."
        ) from error


def is_pandas_like(y):
    """Whether ``y`` is read as it is: a pandas Series or DataFrame, a numpy array, a list."""
    return is_pandas_series(y) or is_pandas_dataframe(y) or isinstance(y, (np.ndarray, list, tuple))


def _refuse_lazy(X):
    lazy = nw.from_native(X, pass_through=True)
    if isinstance(lazy, nw.LazyFrame):
        raise TypeError(
            f"X is a lazy frame ({type(X).__module__}.{type(X).__name__}); collect it first "
            "(polars: X.collect()), or for data beyond memory use a Dask DataFrame through the Dask pass."
        )


def _column_kind(name, dtype):
    """True for a categorical column, False for a numeric one; TypeError otherwise."""
    if isinstance(dtype, _CATEGORICAL_DTYPES):
        return True
    if dtype.is_numeric():
        return False
    raise TypeError(
        f"Column {name!r} has dtype {dtype}, which is neither numeric nor categorical; convert it "
        "before fitting (a date to a number such as its year or day count, a nested column to "
        "several columns, an all-null column to a float or string dtype)."
    )


def _float_values(column):
    values = np.array(column.to_numpy(), dtype=np.float64)  # a copy: never a view of the caller's data
    values[column.is_null().to_numpy()] = np.nan
    return values


def _object_values(column):
    values = np.empty(len(column), dtype=object)
    values[:] = column.to_list()  # not to_numpy: pyarrow fills a dictionary's nulls with a category
    values[column.is_null().to_numpy()] = None
    return values


def read_target(y):
    """``y`` (pandas or polars Series, pyarrow Array or ChunkedArray, numpy, list) as a numpy array.

    Numeric targets keep their dtype, or become float64 with NaN when some
    are missing; boolean targets are ``bool``, or object with None when some
    are missing; text and categorical targets are object arrays with None for
    missing.

    Raises
    ------
    TypeError
        When ``y`` is a dataframe, or a series of a dtype that is neither
        numeric nor categorical.

    Examples
    --------
    >>> import polars as pl
    >>> from sk_privattn.data._frames import read_target
    >>> read_target(pl.Series(["yes", None, "no"])).tolist()
    ['yes', None, 'no']
    >>> read_target(pl.Series([0, 1, 1])).dtype
    dtype('int64')
    """
    pa = get_pyarrow()
    if pa is not None and isinstance(y, pa.Array):
        y = pa.chunked_array([y])
    series = nw.from_native(y, series_only=True, pass_through=True)
    if isinstance(series, nw.Series):
        return _target_values(series)
    if isinstance(nw.from_native(y, pass_through=True), (nw.DataFrame, nw.LazyFrame)):
        raise TypeError(
            f"y must be one column; got a dataframe ({type(y).__module__}.{type(y).__name__}). "
            "Pass the target column itself, for example y['target']."
        )
    return np.asarray(y)


def _target_values(series):
    has_missing = bool(series.is_null().any())
    if _column_kind(series.name or "y", series.dtype):
        if isinstance(series.dtype, nw.Boolean) and not has_missing:
            return series.to_numpy().astype(bool)
        return _object_values(series)
    return _float_values(series) if has_missing else np.array(series.to_numpy())
