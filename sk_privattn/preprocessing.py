"""Encode tabular input for the attention network, honestly about privacy.

Scaling numeric features and listing categories both read data. When the
caller passes ``bounds`` and ``categories`` they are public and nothing leaks.
When they are left out, the fit releases them with differential privacy
(:mod:`sk_privattn.privacy._metadata`, through :class:`UnpublishedMetadata`):
a robust range of each numeric feature, and the categories that enough rows
hold. A numeric feature whose range is not released is encoded by a data-free
signed logarithm. Only ``bounds="data"`` or ``categories="data"`` read them from
the training data, and a :class:`~sk_privattn.exceptions.PrivacyLeakWarning`
says so; without privacy (ε = inf) they are read silently.
"""

import warnings
from numbers import Integral, Real

import numpy as np

from .exceptions import PrivacyLeakWarning
from .privacy._metadata import FROM_DATA, UnpublishedMetadata, reads_data, signed_log
from .utils._warnings import caller_stacklevel

__all__ = [
    "TabularEncoder",
    "UnpublishedMetadata",
    "as_numbers",
    "check_numeric_dtypes",
    "is_missing",
    "resolve_categorical_features",
]

#: A numeric feature without a range is encoded by ``signed_log``, clipped to this range.
SIGNED_LOG_LIMIT = 2.0

_CATEGORICAL_DTYPE_KINDS = ("category", "object", "string", "bool")
#: Columns of these dtypes have public categories: their two values.
_BOOLEAN_DTYPES = ("bool",)


def _is_dataframe(X):
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "iloc")


def _dtype_kind(dtype):
    """The dtype's family as the categorical rules read it: "category", "object", "string", "bool", ….

    Through pandas' own checks where pandas is there, so that nullable
    (``Int64``, ``boolean``), ``str`` and pyarrow-backed dtypes
    (``int64[pyarrow]``, ``large_string[pyarrow]``) fall in their families.
    """
    try:
        from pandas.api import types
    except ImportError:  # pragma: no cover - pandas is optional
        return str(dtype).split("[")[0]
    if isinstance(dtype, types.CategoricalDtype):
        return "category"
    if types.is_bool_dtype(dtype):
        return "bool"
    if types.is_numeric_dtype(dtype):
        return "numeric"
    if types.is_string_dtype(dtype):
        # Object columns pass is_string_dtype; keep them apart, as numpy sees them.
        return "object" if dtype == np.dtype(object) else "string"
    return str(dtype).split("[")[0]


def numpy_backed(frame):
    """``frame`` with each extension column (nullable, ``str``, pyarrow-backed) as numpy holds it.

    scikit-learn's validation of a frame with an extension dtype casts all of
    its columns to one numeric dtype, which fails on a category column beside
    an ``Int64`` one ("Cannot cast str dtype to float64"); numpy's ``bool``
    beside a category column fails the same way. Here numeric extension
    columns become float64 (``pd.NA`` is NaN), boolean columns (numpy's
    too: they are categorical) and string columns object arrays (``pd.NA``
    is None, a missing value to the encoder); category and the other numpy
    columns stay as they are. The frame is copied only where a column
    changes.
    """
    import pandas as pd
    from pandas.api import types

    changed = {}
    for name, column in frame.items():
        dtype = column.dtype
        kind = _dtype_kind(dtype)
        if isinstance(dtype, types.CategoricalDtype) or not (types.is_extension_array_dtype(dtype) or kind == "bool"):
            continue
        if kind == "numeric":
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        elif kind in ("bool", "string"):
            values = column.to_numpy(dtype=object, na_value=None)
        else:
            continue
        changed[name] = pd.Series(values, index=frame.index, dtype=values.dtype)
    if not changed:
        return frame
    converted = frame.copy(deep=False)
    for name, values in changed.items():
        converted[name] = values
    return converted


def resolve_categorical_features(X, n_features, categorical_features, feature_names, categories=None):
    """Return the boolean mask of categorical columns of ``X``.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        The input as the caller passed it (dtypes still visible).
    n_features : int
    categorical_features : None, "from_dtype", or array-like of bool, int or str
        As in :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
        ``"from_dtype"`` also treats object, string and boolean DataFrame
        columns as categorical, since they cannot be numeric, and every
        column that ``categories`` (a dict) lists.
    feature_names : ndarray of str or None
    categories : dict, list, str or None, default=None
        The estimator's ``categories``; with ``"from_dtype"``, the columns a
        dict names (by name or index) are categorical.

    Returns
    -------
    is_categorical : ndarray of bool, shape (n_features,)
    """
    if categorical_features is None:
        return np.zeros(n_features, dtype=bool)
    if isinstance(categorical_features, str):
        if categorical_features != "from_dtype":
            raise ValueError(
                f"categorical_features={categorical_features!r} is not valid; use "
                "None, 'from_dtype', or an array-like of bool, int or str."
            )
        mask = np.zeros(n_features, dtype=bool)
        if _is_dataframe(X):
            mask |= np.array([_dtype_kind(dtype) in _CATEGORICAL_DTYPE_KINDS for dtype in X.dtypes], dtype=bool)
        if isinstance(categories, dict):
            names = list(feature_names) if feature_names is not None else []
            for j in range(n_features):
                mask[j] |= j in categories or (j < len(names) and _lookup_key(categories, names[j]) is not None)
        return mask
    spec = np.asarray(categorical_features)
    if spec.size == 0:
        return np.zeros(n_features, dtype=bool)
    if spec.dtype.kind == "b":
        if spec.shape != (n_features,):
            raise ValueError(
                f"categorical_features as a boolean mask has shape {spec.shape}; "
                f"expected ({n_features},), one entry per feature of X."
            )
        return spec.copy()
    mask = np.zeros(n_features, dtype=bool)
    if spec.dtype.kind in "iu":
        if spec.min() < -n_features or spec.max() >= n_features:
            raise ValueError(
                f"categorical_features contains the index {spec.max() if spec.max() >= n_features else spec.min()}, "
                f"out of range for X with {n_features} features."
            )
        mask[spec] = True
        return mask
    if spec.dtype.kind in "UO":
        if feature_names is None:
            raise ValueError(
                "categorical_features was given as feature names, but X has no "
                "feature names; pass a DataFrame, or integer indices or a boolean mask."
            )
        names = list(feature_names)
        for name in spec:
            if name not in names:
                raise ValueError(
                    f"categorical_features names {name!r}, which is not a column of X. "
                    f"Columns: {names}."
                )
            mask[names.index(name)] = True
        return mask
    raise ValueError(
        "categorical_features must be None, 'from_dtype', or an array-like of bool, "
        f"int or str; got dtype {spec.dtype}."
    )


def check_numeric_dtypes(X, is_categorical):
    """Raise for a DataFrame column among the numeric features whose dtype holds no numbers.

    A schema error, read from the dtypes (category, string), never from the
    values: a numeric column of another dtype is read value by value, and a
    value that is not a number is missing.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_privattn.preprocessing import check_numeric_dtypes
    >>> check_numeric_dtypes(pd.DataFrame({"age": [40.0], "city": ["Oslo"]}).astype({"city": "category"}),
    ...                      [False, False])
    Traceback (most recent call last):
    ...
    ValueError: The numeric feature 'city' has dtype category, which holds no numbers. If it is categorical, name it in categorical_features, or list its categories in categories.
    """
    if not _is_dataframe(X):
        return
    for name, dtype, categorical in zip(X.columns, X.dtypes, is_categorical):
        if not categorical and _dtype_kind(dtype) in ("category", "string"):
            raise ValueError(
                f"The numeric feature {name!r} has dtype {dtype}, which holds no numbers. If it is categorical, "
                "name it in categorical_features, or list its categories in categories."
            )


def _lookup_key(mapping, name):
    """The key of ``mapping`` for column ``name``: the name itself, or the name
    without the ``transformer__`` prefix that a ColumnTransformer's
    ``set_output(transform="pandas")`` adds; ``None`` if neither is a key."""
    if name in mapping:
        return name
    if isinstance(name, str) and "__" in name and name.split("__", 1)[1] in mapping:
        return name.split("__", 1)[1]
    return None


def _per_feature(value, features, feature_names, what):
    """Look up a per-feature public value given as a list or a dict."""
    if isinstance(value, dict):
        keys = []
        for j in features:
            name = feature_names[j] if feature_names is not None else None
            key = _lookup_key(value, name) if name is not None else None
            if key is not None:
                keys.append(value[key])
            elif j in value:
                keys.append(value[j])
            else:
                label = repr(name) if name is not None else f"index {j}"
                raise ValueError(
                    f"{what} has no entry for feature {label}; give one for every "
                    f"{'categorical' if what == 'categories' else 'numeric'} feature, "
                    "keyed by column name or index."
                )
        return keys
    value = list(value)
    if len(value) != len(features):
        raise ValueError(
            f"{what} has {len(value)} entries but X has {len(features)} "
            f"{'categorical' if what == 'categories' else 'numeric'} features; give "
            "one per feature, in column order, or a dict keyed by column name."
        )
    return value


def _is_list_of_pairs(bounds):
    """A list with one ``(lower, upper)`` pair per numeric feature (a tuple is ``(lower, upper)``)."""
    return isinstance(bounds, list) and len(bounds) > 0 and all(np.ndim(pair) == 1 and len(pair) == 2 for pair in bounds)


def is_missing(values):
    """Elementwise: None, NaN, or pandas' NA.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn.preprocessing import is_missing
    >>> is_missing(np.array([1.0, np.nan])).tolist(), is_missing(np.array(["a", None], dtype=object)).tolist()
    ([False, True], [False, True])
    """
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "biuUS":
        return np.zeros(len(values), dtype=bool)
    missing = np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in values], dtype=bool)
    try:
        import pandas as pd

        missing |= np.asarray(pd.isna(values), dtype=bool)
    except ImportError:  # pragma: no cover - pandas is optional
        pass
    return missing


#: Number of values (views) each numeric feature gets, per encoding.
N_BINS = 8
NUMERIC_ENCODINGS = {"linear": 1, "linear+log": 2, "piecewise": 2 + 2 * N_BINS}


#: Rows that :meth:`TabularEncoder.transform` encodes at a time.
ENCODE_CHUNK_ROWS = 65_536


def _thermometer(u, n_bins):
    """Piecewise-linear encoding of ``u`` in [0, 1] on ``n_bins`` equal bins.

    Bin ``k`` is 0 below it, 1 above it and linear inside it, so a learned
    weighted sum of the bins is any continuous piecewise-linear function.
    """
    edges = np.arange(n_bins) / n_bins
    return [np.clip((u - edge) * n_bins, 0.0, 1.0) for edge in edges]


class TabularEncoder:
    """Map mixed tabular input to numeric features in [-1, 1] and category codes.

    Not a scikit-learn transformer: an internal helper whose fitted state the
    estimators copy into their ``bounds_`` and ``categories_`` attributes.

    Parameters
    ----------
    is_categorical : ndarray of bool, shape (n_features,)
    bounds : None, tuple (lower, upper), or dict
        Public bounds of the numeric features. ``lower`` and ``upper`` are
        scalars or sequences with one entry per numeric feature; a dict maps a
        column name or index to ``(lower, upper)``.
    categories : None, "from_dtype", list of array-like, or dict
        Public category lists of the categorical features.
    feature_names : ndarray of str or None
    numeric_encoding : {"linear", "linear+log", "piecewise"}, default="linear"
        "linear+log" also gives each numeric feature a logarithmic view,
        ``log1p(x - lower)`` scaled to [-1, 1], a fixed transform that needs
        nothing but the bounds and spreads out heavy right tails.
        "piecewise" adds thermometer encodings of both scales (see
        ``NUMERIC_ENCODINGS``).
    """

    def __init__(self, is_categorical, *, bounds, categories, feature_names, numeric_encoding="linear"):
        self.is_categorical = np.asarray(is_categorical, dtype=bool)
        self.numeric_encoding = numeric_encoding
        self.bounds = bounds
        self.categories = categories
        self.feature_names = feature_names
        self.numeric_ = np.flatnonzero(~self.is_categorical)
        self.categorical_ = np.flatnonzero(self.is_categorical)

    @classmethod
    def from_fitted(cls, is_categorical, *, bounds, categories, feature_names, numeric_encoding, estimator_name):
        """An encoder with the fitted ``bounds_`` and ``categories_`` given, as a fit would leave it."""
        encoder = cls(
            is_categorical, bounds=bounds, categories=categories, feature_names=feature_names,
            numeric_encoding=numeric_encoding,
        )
        encoder.bounds_ = np.asarray(bounds, dtype=np.float64).reshape(-1, 2)
        encoder.categories_ = [np.asarray(values, dtype=object) for values in categories]
        encoder._estimator_name = estimator_name
        return encoder

    def _label(self, j):
        return repr(self.feature_names[j]) if self.feature_names is not None else f"x{j}"

    def _numeric(self, X):
        """The numeric columns of ``X`` as float64, NaN where a value is missing.

        NaN, ``None`` and pandas' ``NA`` are missing values, which the model
        learns as a token of their own; so is a value that is not a number (a
        string in a numeric column). Infinite values pass, and the encoding
        clips them to the bounds, as any value outside them. Neither raises nor
        warns: whether one row holds such a value must not show.
        """
        if not self.numeric_.size:
            return np.zeros((X.shape[0], 0))
        columns = X[:, self.numeric_]
        try:
            return columns.astype(np.float64)
        except (TypeError, ValueError):
            return np.column_stack([as_numbers(X[:, j]) for j in self.numeric_])

    def fit_transform(self, X, X_original, estimator_name, unpublished=UnpublishedMetadata()):
        """Learn bounds and categories (public, released with DP, or read and warned) and encode ``X``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated input (object dtype when mixed).
        X_original : array-like or DataFrame
            The input as passed, to read pandas category dtypes.
        estimator_name : str
            For error messages.
        unpublished : UnpublishedMetadata
            How to obtain the bounds and categories that are not public.
        """
        self._estimator_name = estimator_name
        self.bounds_ = self._fit_bounds(X, unpublished)
        self.categories_ = self._fit_categories(X, X_original, unpublished)
        return self.transform(X)

    def _fit_bounds(self, X, unpublished):
        if not self.numeric_.size:
            return np.zeros((0, 2))
        if self.bounds is None and unpublished.private:
            ranges = unpublished.require_release("bounds").numeric_ranges(self._numeric(X), columns=self.numeric_)
            # A feature without a released range has NaN bounds: it is encoded by signed_log.
            return np.column_stack([ranges.lower, ranges.upper])
        if self.bounds is None or reads_data(self.bounds):
            numeric = self._numeric(X)
            if unpublished.private:
                names = ", ".join(self._label(j) for j in self.numeric_)
                warnings.warn(
                    f"bounds={FROM_DATA!r}: the minimum and maximum of every numeric "
                    f"feature ({names}) were read from {unpublished.source} to scale it. "
                    "These values are not protected by the differential-privacy "
                    "guarantee: they can reveal the most extreme rows. Leave bounds=None "
                    "for bounds released with DP, or pass public bounds=(lower, upper), or "
                    "a dict {feature: (lower, upper)}, to prevent this.",
                    PrivacyLeakWarning,
                    stacklevel=caller_stacklevel(),
                )
            observed = np.isfinite(numeric)
            # A feature with no finite value gets (0, 0): every row is then missing or clipped anyway.
            lower = np.where(observed.any(axis=0), np.nanmin(np.where(observed, numeric, np.inf), axis=0), 0.0)
            upper = np.where(observed.any(axis=0), np.nanmax(np.where(observed, numeric, -np.inf), axis=0), 0.0)
            return np.column_stack([lower, upper])
        if isinstance(self.bounds, dict):
            pairs = _per_feature(self.bounds, self.numeric_, self.feature_names, "bounds")
            bounds = np.asarray(pairs, dtype=np.float64)
        elif _is_list_of_pairs(self.bounds):
            bounds = np.asarray(_per_feature(self.bounds, self.numeric_, self.feature_names, "bounds"), dtype=np.float64)
        else:
            if len(self.bounds) != 2:
                raise ValueError(
                    f"bounds must be a pair (lower, upper) or a dict; got {self.bounds!r}."
                )
            try:
                lower, upper = (
                    np.broadcast_to(np.asarray(b, dtype=np.float64), (self.numeric_.size,)) for b in self.bounds
                )
            except ValueError as exc:
                raise ValueError(
                    f"bounds={self.bounds!r} does not fit the {self.numeric_.size} numeric features "
                    "of X: give scalars, one value per numeric feature, or a dict "
                    "{feature: (lower, upper)}."
                ) from exc
            bounds = np.column_stack([lower, upper])
        if bounds.shape != (self.numeric_.size, 2) or not np.all(np.isfinite(bounds)):
            raise ValueError(
                f"bounds must give a finite (lower, upper) for each of the {self.numeric_.size} "
                f"numeric features; got {self.bounds!r}."
            )
        bad = np.flatnonzero(bounds[:, 0] > bounds[:, 1])
        if bad.size:
            j = self.numeric_[bad[0]]
            raise ValueError(
                f"bounds for feature {self._label(j)} are {tuple(bounds[bad[0]])}: the "
                "lower bound exceeds the upper bound; swap them."
            )
        return bounds

    def _fit_categories(self, X, X_original, unpublished):
        """The category list of each categorical feature: public, released with DP, or read (warned).

        A boolean column's categories are its two values: public, whatever
        ``categories`` says of the other columns.
        """
        spec = self.categories
        if isinstance(spec, str) and spec not in ("from_dtype", FROM_DATA):
            raise ValueError(
                f"categories={spec!r} is not valid; use None, 'from_dtype', {FROM_DATA!r}, a "
                "list with one array-like per categorical feature, or a dict."
            )
        dtypes = [X_original.dtypes.iloc[j] if _is_dataframe(X_original) else None for j in self.categorical_]
        is_boolean = [_dtype_kind(dtype) in _BOOLEAN_DTYPES for dtype in dtypes]
        listed = None
        if isinstance(spec, (list, dict)):
            features = self.categorical_ if isinstance(spec, list) else self.categorical_[~np.array(is_boolean, bool)]
            listed = dict(zip(features.tolist(), _per_feature(spec, features, self.feature_names, "categories")))
        categories, from_data, released = [], [], []
        for j, dtype, boolean in zip(self.categorical_, dtypes, is_boolean):
            if listed is not None and j in listed:
                values = list(listed[j])
                if len(set(values)) != len(values):
                    raise ValueError(f"categories for feature {self._label(j)} contain duplicates: {values!r}.")
                categories.append(np.asarray(values, dtype=object))
            elif boolean:
                categories.append(np.asarray([False, True], dtype=object))
            elif spec == "from_dtype":
                if dtype is None or not hasattr(dtype, "categories"):
                    raise ValueError(
                        f"categories='from_dtype' needs a pandas 'category' dtype, but feature "
                        f"{self._label(j)} has dtype {dtype}; pass the category lists instead."
                    )
                categories.append(np.asarray(list(dtype.categories), dtype=object))
            elif spec is None and unpublished.private:
                categories.append(None)  # released below, all features in one release
                released.append(j)
            else:
                values = X[:, j]
                present = values[~is_missing(values)]
                categories.append(np.asarray(sorted(set(present.tolist()), key=_sort_key), dtype=object))
                from_data.append(j)
        if released:
            release = unpublished.require_release("categories").categories(X[:, released], columns=released)
            lists = iter(release.categories)
            categories = [next(lists) if values is None else values for values in categories]
            categories = [np.asarray(values, dtype=object) for values in categories]
        if from_data and unpublished.private:
            names = ", ".join(self._label(j) for j in from_data)
            warnings.warn(
                f"categories={FROM_DATA!r}: the set of values of every categorical "
                f"feature ({names}) was read from {unpublished.source}. These lists are not "
                "protected by the differential-privacy guarantee: a rare category "
                "reveals that some row holds it. Leave categories=None for categories "
                "released with DP, or pass public categories (a list per feature, a dict "
                "{feature: list}, or 'from_dtype' for pandas categoricals whose categories "
                "are public), to prevent this.",
                PrivacyLeakWarning,
                stacklevel=caller_stacklevel(),
            )
        return categories

    def transform(self, X):
        """Encode ``X`` with the fitted bounds and categories.

        The rows are encoded in chunks of ``ENCODE_CHUNK_ROWS``, so that the
        working arrays of the encoding (float64 views, category lookups) do
        not grow with the number of rows; only the result does.

        Returns
        -------
        x_num : ndarray of float32, shape (n_samples, n_numeric * n_views)
            Clipped to the bounds and scaled to [-1, 1]; the log view, if
            any, follows the linear one.
        x_cat : ndarray of int64, shape (n_samples, n_categorical)
            Code 0 is "unknown or missing"; known categories are 1, 2, ...
        """
        n_samples = X.shape[0]
        if n_samples <= ENCODE_CHUNK_ROWS:
            return self._encode(X)
        n_views = NUMERIC_ENCODINGS[self.numeric_encoding]
        x_num = np.empty((n_samples, self.numeric_.size * n_views), dtype=np.float32)
        x_cat = np.empty((n_samples, self.categorical_.size), dtype=np.int64)
        for start in range(0, n_samples, ENCODE_CHUNK_ROWS):
            rows = slice(start, start + ENCODE_CHUNK_ROWS)
            x_num[rows], x_cat[rows] = self._encode(X[rows])
        return x_num, x_cat

    def _encode(self, X):
        """:meth:`transform` of one chunk of rows."""
        numeric = self._numeric(X)
        lower, upper = self.bounds_[:, 0].copy(), self.bounds_[:, 1].copy()
        no_range = np.isnan(lower) | np.isnan(upper)
        if no_range.any():
            # No range was released: the data-free signed logarithm, within fixed public limits.
            numeric[:, no_range] = signed_log(numeric[:, no_range])
            lower[no_range], upper[no_range] = -SIGNED_LOG_LIMIT, SIGNED_LOG_LIMIT
        span = np.where(upper > lower, upper - lower, 1.0)
        shifted = np.clip(numeric, lower, upper) - lower
        linear = shifted / span
        views = [2.0 * linear - 1.0]
        if self.numeric_encoding != "linear":
            logarithmic = np.log1p(shifted) / np.log1p(span)
            views.append(2.0 * logarithmic - 1.0)
        if self.numeric_encoding == "piecewise":
            views += _thermometer(linear, N_BINS) + _thermometer(logarithmic, N_BINS)
        x_num = np.concatenate(views, axis=1)
        x_cat = np.zeros((X.shape[0], self.categorical_.size), dtype=np.int64)
        for position, (j, known) in enumerate(zip(self.categorical_, self.categories_)):
            x_cat[:, position] = _codes(X[:, j], known)
        return x_num.astype(np.float32), x_cat


def as_numbers(values):
    """``values`` (an object column) as float64: NaN where a value is missing or not a number.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn.preprocessing import as_numbers
    >>> as_numbers(np.array([1, "2.5", "forty", None, "inf"], dtype=object)).tolist()
    [1.0, 2.5, nan, nan, inf]
    """
    column = np.full(len(values), np.nan)
    for row, value in enumerate(values):
        try:
            column[row] = float(value)
        except (TypeError, ValueError):
            pass  # not a number: missing
    return column


def _codes(values, known):
    """Codes 1..len(known) of ``values`` in ``known``; 0 if unknown or missing."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        lookup = {_normalize(value): code for code, value in enumerate(known, start=1)}
        missing = is_missing(values)
        return [0 if gone else lookup.get(_normalize(value), 0) for value, gone in zip(values, missing)]
    index = pd.Index([_normalize(value) for value in known], dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        values = [_normalize(value) for value in values]
    return index.get_indexer(pd.Index(values, dtype=object)) + 1


def _normalize(value):
    """Make 3, 3.0 and np.int64(3) the same category."""
    if isinstance(value, (Integral, Real)) and not isinstance(value, bool):
        value = float(value)
        return int(value) if value.is_integer() else value
    return value


def _sort_key(value):
    return (0, float(value), "") if isinstance(value, (Integral, Real)) else (1, 0.0, str(value))
