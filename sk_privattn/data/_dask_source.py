"""A Dask ``X`` as the estimators read it: checked, counted, sampled in one pass, predicted by partition.

``fit(X, y)`` with a ``dask.dataframe.DataFrame`` or a ``dask.array.Array`` (a Parquet
directory larger than memory goes through ``dask.dataframe.read_parquet``) takes the same
steps as a fit in memory (:mod:`sk_privattn._base`), with three of them done where the
partitions live:

1. :func:`check_partitioned_fit`, before anything is computed: the estimator reads tables,
   ``y`` is a Dask collection, no sample weights, no open privacy ledger, and no metadata
   (bounds, categories, classes, target bounds) is to be read from the rows (``"data"``),
   since on this path nothing may be read from the rows but DP releases (the count, the
   metadata left at None: :mod:`._dask_metadata`) and each step's sample;
2. :func:`count_partitioned`: the exact count of rows (``len``; Dask may answer it from the
   Parquet footers) or, partitioned by person, of persons, which the fit path releases
   with a DP count like any other n before the plan reads it;
3. :func:`draw_steps`: once the plan is made and the budgets agree, one pass draws every
   step's Poisson batch where each partition lives (:func:`._dask_pass.sample_steps`),
   checks each partition's schema, and returns the gathered rows in step order with their
   :class:`~sk_privattn.dpsgd.GatheredBatches`. The driver then encodes only those rows
   and trains on them: its memory is O(T·B), not O(n).

Nothing that Dask derives from the data reaches the estimator: not the collection, its
keys or tokens (which hash the input's content), nor its divisions or partition lengths.
:func:`predict_by_partition` maps the fitted estimator over the partitions (the workers then
need sk_privattn and torch) and returns one array, as ``predict`` does in memory.

The secret that keys the draws travels to the workers in the task graph, so the cluster
(scheduler and workers) must be trusted as much as the data it holds (docs/scale.md).
"""

import sys

import numpy as np

from ..dpsgd import GatheredBatches
from ..privacy._metadata import FROM_DATA, reads_data
from . import _dask_pass

__all__ = ["check_partitioned_fit", "count_partitioned", "draw_steps", "is_partitioned", "predict_by_partition"]

#: The parameters of the metadata: at None, released with DP; at "data", refused on this path.
_METADATA = ("bounds", "categories", "classes", "target_bounds")


def is_partitioned(X):
    """Whether ``X`` is a Dask collection (without importing Dask when nobody did)."""
    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(X)


def _schema(X):
    """The collection's columns and kinds from its metadata (public), or None for an array."""
    return _dask_pass.column_kinds(X) if hasattr(X, "divisions") and X.ndim == 2 else None


def check_partitioned_fit(estimator, X, y, person_id, sample_weight):
    """Refuse a fit on the Dask ``X`` that this path cannot run privately, before any count.

    Raises
    ------
    TypeError
        For an estimator that does not read tables, or a ``y`` that is not a Dask collection.
    ValueError
        For sample weights, an open privacy ledger, metadata left to be read from the rows,
        or person ids that are not the index of data partitioned by person.
    """
    name = type(estimator).__name__
    if not getattr(estimator, "_partitioned_input", False):
        raise TypeError(f"{name} does not read Dask collections; pass its input in memory.")
    if not is_partitioned(y):
        raise TypeError(
            f"X is a Dask collection, so y must be one too, partitioned as X (for example y = frame['target'] "
            f"of the same Dask DataFrame); got y of type {type(y).__name__}."
        )
    if sample_weight is not None:
        raise ValueError("sample_weight is not supported with a Dask X; leave it at None, or fit in memory.")
    _check_no_ledger(estimator)
    _check_public_metadata(estimator, estimator._categorical_of_schema(X))
    if person_id is not None:
        _dask_pass.check_partitioned_by_person(X, person_id)


def _check_no_ledger(estimator):
    from ..privacy._recording import ledgers_of

    if ledgers_of(estimator):
        raise ValueError(
            "A PrivacyLedger or PrivacyBudget is open, and it fingerprints every training row, which a fit on "
            "a Dask X does not hold: it draws each step's sample where the partitions live. Fit outside the "
            "ledger's `with` block, and record the fit's epsilon_ yourself."
        )


def _check_public_metadata(estimator, is_categorical):
    """Refuse metadata to be read from the rows (``"data"``): on this path the fit reads nothing of
    the rows but DP releases (the count, the metadata left at None) and each step's sample."""
    has = {"bounds": bool((~is_categorical).any()), "categories": bool(is_categorical.any())}
    params = estimator.get_params(deep=False)
    read = [name for name in _METADATA if name in params and reads_data(params[name]) and has.get(name, True)]
    if read:
        raise ValueError(
            f"{type(estimator).__name__} on a Dask X reads no metadata from the rows, but "
            f"{', '.join(f'{name}={FROM_DATA!r}' for name in read)} asks for it. Leave "
            f"{' and '.join(read)} at None for a DP release summed over the partitions, or pass "
            "the public values from the data's documentation."
        )


def count_partitioned(X, person_id=None):
    """The exact number of rows of ``X``, or of its persons (``person_id``, the name of its index).

    Private: the fit path releases it with a DP count before a plan reads it.
    """
    if person_id is not None:
        return _dask_pass.count_units(X, person_id=person_id).value
    if hasattr(X, "divisions"):
        return int(len(X))
    n_rows = X.shape[0]
    return int(n_rows) if not np.isnan(n_rows) else _dask_pass.count_units(X).value


def draw_steps(plan, X, y, *, secret, person_id=None, max_rows_per_person=None):
    """Every step's Poisson batch of ``X, y`` in one pass: ``(X_rows, y_rows, batches)``.

    ``X_rows`` holds the gathered rows in step order (a pandas DataFrame, its
    categorical columns as objects and its numeric ones as floats, whatever
    dtypes the partitions had; or an array), ``y_rows`` their targets, and
    ``batches`` the :class:`~sk_privattn.dpsgd.GatheredBatches` that trains on them.
    """
    schema = _schema(X)
    sampled = _dask_pass.sample_steps(
        X, y, steps=plan.n_steps, sample_rate=plan.sample_rate, secret=secret, person_id=person_id,
        max_rows_per_person=max_rows_per_person if person_id is not None else None, schema=schema,
    )
    batches = GatheredBatches(sampled.step, steps=plan.n_steps, steps_per_epoch=plan.steps_per_epoch,
                              person_of_row=sampled.person)
    return _as_schema(sampled.X, schema), sampled.y, batches


def _as_schema(rows, schema):
    """The gathered rows with the schema's kinds: categorical columns as objects, numeric as floats."""
    if schema is None:
        return rows
    import pandas as pd

    return pd.DataFrame({name: rows[name].astype(object if categorical else np.float64)
                         for name, categorical in schema}, columns=[name for name, _ in schema])


def predict_by_partition(estimator, X, need_weights=False):
    """``estimator._forward`` on each partition of ``X``, where it lives, as one array (or pair)."""
    import dask

    parts = _dask_pass.partitions(X)
    outputs = dask.compute(*[dask.delayed(_forward, pure=False)(estimator, part, need_weights) for part in parts])
    if need_weights:
        return np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs])
    return np.concatenate(outputs)


def _forward(estimator, part, need_weights):
    return estimator._forward(part, need_weights=need_weights)
