"""The exact histograms that the metadata releases add noise to, of columns in memory or of partitions.

A release of ranges, categories or classes is a histogram (or two) plus
Gaussian noise. The histograms are sums over rows, so over partitions too: the
releases read them through :class:`ColumnCounts`, whose in-memory version is
:class:`ArrayCounts` and whose partitioned version sums, on the driver, what
each partition counted where it lives (:mod:`sk_privattn.data._dask_metadata`).

This module imports numpy alone (and pandas, where it is installed, to count distinct values):
its functions run on Dask workers, sent by value.
"""

import math
import numbers
from collections import Counter, defaultdict

import numpy as np

__all__ = [
    "MAX_EXPONENT",
    "MIN_EXPONENT",
    "TARGET",
    "ArrayCounts",
    "ColumnCounts",
    "bin_counts",
    "bins",
    "category_counts",
    "category_key",
    "grid_counts",
    "grid_index",
    "grids",
    "partition_bins",
    "partition_grid",
    "partition_keys",
    "unit_weights",
]

#: The power-of-two grid: magnitudes from ``2^MIN_EXPONENT`` to ``2^MAX_EXPONENT``.
MIN_EXPONENT = -32
MAX_EXPONENT = 64

_MAGNITUDES = 2.0 ** np.arange(MIN_EXPONENT, MAX_EXPONENT + 1)
#: Bucket ``i`` of the grid spans ``EDGES[i]`` to ``EDGES[i + 1]`` (a negative bucket holds its upper edge,
#: a positive one its lower edge); the outermost ones also hold what lies beyond.
EDGES = np.concatenate([-_MAGNITUDES[::-1], _MAGNITUDES])
N_BUCKETS = EDGES.size - 1
ZERO_BUCKET = N_BUCKETS // 2

#: The name of the target among the columns that a partition's counts read.
TARGET = "__sk_privattn_target__"


def grid_index(values):
    """The grid bucket of each (non-missing) value: read from the float's sign and exponent bits
    (``|x|`` in ``[2^k, 2^(k+1))`` has exponent ``k``; zero and subnormals fall in the zero bucket,
    infinities in the outermost buckets)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    exponent = ((bits >> 52) & 0x7FF) - 1023
    offset = np.clip(exponent, MIN_EXPONENT, MAX_EXPONENT - 1) - MIN_EXPONENT
    index = np.where(bits < 0, ZERO_BUCKET - 1 - offset, ZERO_BUCKET + 1 + offset)
    return np.where(exponent < MIN_EXPONENT, ZERO_BUCKET, index)


def live_buckets(low, high):
    """The grid buckets that meet ``[low, high]`` in more than a point (the outermost ones extend to infinity)."""
    bucket_low = np.concatenate([[-np.inf], EDGES[1:-1]])
    bucket_high = np.concatenate([EDGES[1:-1], [np.inf]])
    return (bucket_low < high) & (bucket_high > low)


def grid_counts(values, weights, low, high):
    """The weight of the values of one column in each grid bucket, and of its missing values.

    Values are clipped to ``[low, high]``; a value clipped to a public bound
    that is a bucket's edge counts in the live bucket next to it.
    """
    values = np.asarray(values, dtype=float)
    if low > -np.inf or high < np.inf:
        values = np.clip(values, low, high)
    missing = np.isnan(values)
    live_range = np.flatnonzero(live_buckets(low, high))
    if missing.any():
        values, observed_weights = values[~missing], weights[~missing]
    else:
        observed_weights = weights
    index = grid_index(values)
    if live_range[0] > 0 or live_range[-1] < N_BUCKETS - 1:
        index = np.clip(index, live_range[0], live_range[-1])
    counts = np.bincount(index, weights=observed_weights, minlength=N_BUCKETS)
    return counts, float(weights[missing].sum())


def bin_counts(values, weights, edges, low, high):
    """The weight of the values of one column (clipped to ``[low, high]``) in each bin of ``edges``."""
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    if missing.any():
        values, weights = values[~missing], weights[~missing]
    # Clipped to [low, high], then to the edges (inside them): the edges alone, since they lie within the bounds.
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, edges.size - 2)
    return np.bincount(bins, weights=weights, minlength=edges.size - 1)


def category_key(value):
    """An orderable, hashable key for a category, or None for a missing value.

    Numpy scalars become Python ones; equal numbers share a key (``1``,
    ``1.0`` and ``np.int64(1)``); other objects than booleans, numbers,
    strings and bytes are compared by their ``repr``.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return (0, value)
    if isinstance(value, numbers.Real):
        value = float(value) if not isinstance(value, numbers.Integral) else int(value)
        return (1, int(value) if isinstance(value, float) and value.is_integer() else value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, bytes):
        return (3, value)
    return (4, f"{type(value).__qualname__}: {value!r}")


#: Kinds of column (pandas' ``infer_dtype``) whose equal values are one category key, so that
#: pandas may count their distinct values by hashing: not a mix of booleans and numbers
#: (``True == 1`` hashes as one value, two keys).
_HASHABLE_KINDS = ("string", "bytes", "integer", "floating", "mixed-integer-float", "boolean", "empty")


def _distinct(column):
    """The distinct values of ``column`` and their counts: hashed by pandas where that is exact
    (about 50 times faster than a key per value on 10⁷ strings), one key per value otherwise."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas comes with every Dask DataFrame
        pd = None
    column = np.asarray(column, dtype=object)
    if pd is not None and pd.api.types.infer_dtype(column, skipna=True) in _HASHABLE_KINDS:
        counted = pd.Series(column, dtype=object).value_counts(dropna=True, sort=False)
        return counted.index.to_numpy(dtype=object), counted.to_numpy()
    return column, np.ones(len(column), dtype=np.int64)


def category_counts(column, person=None):
    """The count of each category key; with ``person``, a person counts once, for their most frequent
    category (ties: the smallest key)."""
    if person is None:
        counts = Counter()
        for value, count in zip(*_distinct(column)):
            key = category_key(value)
            if key is not None:
                counts[key] += int(count)
        return counts
    keys = [category_key(value) for value in column]
    held_by = defaultdict(Counter)
    for key, who in zip(keys, person):
        if key is not None:
            held_by[who][key] += 1
    return Counter(min(held, key=lambda key: (-held[key], key)) for held in held_by.values())


def unit_weights(n_rows, groups):
    """Each row's weight: 1, or ``1 / k`` for a person with ``k`` rows; and each row's person."""
    if groups is None:
        return np.ones(n_rows), np.arange(n_rows)
    groups = np.asarray(groups)
    if groups.ndim != 1 or len(groups) != n_rows:
        raise ValueError(f"groups has shape {groups.shape}; pass one person id per row, shape ({n_rows},).")
    _, person, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return 1.0 / counts[person], person


class ColumnCounts:
    """The exact histograms of some columns, as the releases read them (an interface).

    ``n_features`` columns; :meth:`grid` and :meth:`bins` for ranges (the two
    stages of :func:`~._ranges.release_numeric_ranges`), :meth:`keys` for
    categories and classes. Every method returns exact sums: private, to be noised.
    """

    n_features = 0

    def grid(self, bounds):
        """``(counts, missing)``: each column's weight per grid bucket, shape (n_features, N_BUCKETS),
        and of its missing values, shape (n_features,); values clipped to ``bounds[j]``."""
        raise NotImplementedError

    def bins(self, edges, bounds):
        """Each column's weight per bin of ``edges[j]`` (an empty array: no bins), values clipped to ``bounds[j]``."""
        raise NotImplementedError

    def keys(self):
        """Each column's count per category key (a person once, for their most frequent key)."""
        raise NotImplementedError


class ArrayCounts(ColumnCounts):
    """:class:`ColumnCounts` of columns in memory: ``values[j]`` with the weights ``weights[j]``.

    ``person`` (the person of each row, for :meth:`keys`) is None at row level.
    """

    def __init__(self, values, weights, person=None):
        self.values, self.weights, self.person = list(values), list(weights), person
        self.n_features = len(self.values)

    def grid(self, bounds):
        return grids(self.values, self.weights, bounds)

    def bins(self, edges, bounds):
        return bins(self.values, self.weights, edges, bounds)

    def keys(self):
        return [category_counts(values, self.person) for values in self.values]


def grids(values, weights, bounds):
    """:meth:`ColumnCounts.grid` of the columns ``values`` with the weights ``weights``."""
    counted = [grid_counts(column, column_weights, low, high)
               for column, column_weights, (low, high) in zip(values, weights, bounds)]
    counts = np.array([counts for counts, _ in counted]).reshape(len(counted), N_BUCKETS)
    return counts, np.array([missing for _, missing in counted], dtype=float)


def bins(values, weights, edges, bounds):
    """:meth:`ColumnCounts.bins` of the columns ``values`` with the weights ``weights``."""
    return [bin_counts(column, column_weights, bin_edges, low, high) if len(bin_edges) else np.zeros(0)
            for column, column_weights, bin_edges, (low, high) in zip(values, weights, edges, bounds)]


# On a Dask worker: the histograms of one partition (sk_privattn.data._dask_metadata sums them).


def _partition_columns(part, y_part, columns, numeric):
    """The columns of one partition (``"target"``: its ``y``), as floats or as objects with None
    for a missing value."""
    picked = [y_part if column == TARGET else (part[column] if hasattr(part, "columns") else np.asarray(part)[:, column])
              for column in columns]
    if numeric:
        return [column.to_numpy(dtype=float, na_value=np.nan) if hasattr(column, "to_numpy") and hasattr(column, "isna")
                else np.asarray(column, dtype=float) for column in picked]
    return [np.where(column.isna().to_numpy(), None, column.to_numpy(dtype=object)) if hasattr(column, "isna")
            else np.asarray(column, dtype=object) for column in picked]


# No class here: a class sent by value comes back by reference when the scheduler, in the
# driver's process, passes it on (cloudpickle tracks classes per process).


def partition_grid(part, y_part, person, *, columns, bounds):
    """The grid counts of ``columns`` of one partition: ``(counts, missing)`` as :meth:`ColumnCounts.grid`."""
    values = _partition_columns(part, y_part, columns, numeric=True)
    return grids(values, [unit_weights(len(part), person)[0]] * len(values), bounds)


def partition_bins(part, y_part, person, *, columns, edges, bounds):
    """The bin counts of ``columns`` of one partition, as :meth:`ColumnCounts.bins`."""
    values = _partition_columns(part, y_part, columns, numeric=True)
    return bins(values, [unit_weights(len(part), person)[0]] * len(values), edges, bounds)


def partition_keys(part, y_part, person, *, columns):
    """The counts per key of ``columns`` of one partition, as :meth:`ColumnCounts.keys`."""
    return [category_counts(values, person) for values in _partition_columns(part, y_part, columns, numeric=False)]
