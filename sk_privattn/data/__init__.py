"""Where the rows of a fit come from: eager tables of any library, and partitioned data.

- :mod:`._frames`: pandas, polars and pyarrow tables read alike through narwhals (column
  kinds, public and stored categories, values);
- :mod:`._dask_pass`: the one pass over a Dask collection that draws every step's Poisson
  batch where each partition lives, and the exact counts (a cheap pass, or Parquet footers)
  that a DP count releases before a plan reads them;
- :mod:`._dask_source`: a Dask ``X`` as the estimators read it: its count, its schema
  checked against the public metadata, the gathered rows of every step, and predictions by
  partition.

Nothing here imports estimator code; the mechanism's draws come from
:mod:`sk_privattn.dpsgd._poisson`.
"""
