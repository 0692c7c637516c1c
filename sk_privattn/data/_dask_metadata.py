"""The DP metadata of a Dask ``X``: the releases' histograms, summed over the partitions where they live.

A fit on a Dask collection releases the bounds, categories and classes (and a
regressor's target range) that it was not given, as a fit in memory does
(:mod:`sk_privattn.privacy._metadata`), from all the rows rather than from the
rows that the sampling pass gathered: each release is a histogram plus noise,
and a histogram is a sum over partitions. :class:`PartitionedSource` hands the
releases a :class:`~sk_privattn.privacy._metadata._counts.ColumnCounts` whose sums
each partition computes where it lives (:func:`~._dask_pass.reduce_partitions`):
a pass for the ranges' grid and the categories' keys, and one for the ranges'
refined bins, whose edges depend on the noisy grid. Only those sums reach the
driver, and only the noisy release leaves it.

At person level the data are partitioned by person (:func:`~._dask_pass.check_partitioned_by_person`),
so a person's weights (``1 / k`` for ``k`` rows) and most frequent category are computed
inside one partition, exactly as in memory.
"""

from collections import Counter

import numpy as np

from ..privacy._metadata import _counts
from . import _dask_pass

__all__ = ["PartitionedSource"]


class _PartitionedCounts(_counts.ColumnCounts):
    """:class:`~sk_privattn.privacy._metadata._counts.ColumnCounts` of ``columns`` of a Dask ``X``
    (or of its ``y``: ``_counts.TARGET``), summed over the partitions."""

    def __init__(self, source, columns):
        self.source, self.columns = source, list(columns)
        self.n_features = len(self.columns)

    def _per_partition(self, function, **arguments):
        source = self.source
        return _dask_pass.reduce_partitions(source.X, source.y, function, person_id=source.person_id,
                                            columns=self.columns, **arguments)

    def grid(self, bounds):
        answers = self._per_partition(_counts.partition_grid, bounds=np.asarray(bounds, dtype=float))
        counts = np.zeros((self.n_features, _counts.N_BUCKETS))
        missing = np.zeros(self.n_features)
        for partition_counts, partition_missing in answers:
            counts += partition_counts
            missing += partition_missing
        return counts, missing

    def bins(self, edges, bounds):
        answers = self._per_partition(_counts.partition_bins, edges=[np.asarray(e, dtype=float) for e in edges],
                                      bounds=np.asarray(bounds, dtype=float))
        return [np.sum([answer[feature] for answer in answers], axis=0) if len(edges[feature]) else np.zeros(0)
                for feature in range(self.n_features)]

    def keys(self):
        totals = [Counter() for _ in range(self.n_features)]
        for answer in self._per_partition(_counts.partition_keys):
            for total, counts in zip(totals, answer):
                total.update(counts)
        return totals


class PartitionedSource:
    """Where the metadata releases of a fit on a Dask ``X`` read their histograms.

    Parameters
    ----------
    X : dask.dataframe.DataFrame or dask.array.Array
    y : dask Series or Array, partitioned as ``X``
    person_id : str, default=None
        At person level, the name of ``X``'s index (partitioned by person).
    """

    def __init__(self, X, y, person_id=None):
        self.X, self.y, self.person_id = X, y, person_id

    def __repr__(self):
        return "PartitionedSource()"  # nothing of the collection: its keys hash the data

    def counts(self, columns):
        """The histograms of the columns of ``X`` at the positions ``columns``."""
        names = list(self.X.columns) if hasattr(self.X, "columns") else list(range(self.X.shape[1]))
        return _PartitionedCounts(self, [names[int(j)] for j in columns])

    def target_counts(self):
        """The histograms of ``y``."""
        return _PartitionedCounts(self, [_counts.TARGET])
