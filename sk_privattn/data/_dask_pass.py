"""One pass over a Dask collection draws every step's Poisson batch where each partition lives.

DP-SGD's plan (T steps at rate q) is fixed before any row is read, from a
public or DP count, and each step needs only its own Poisson sample. So one
pass over the partitions can draw, for every partition and every step, that
partition's part of the step's sample (:mod:`sk_privattn.dpsgd._poisson`: a Binomial(n_p, q)
size, then a uniform subset), and send back only the sampled rows, tagged with
their step: about T·B rows in all, whatever n. The driver's memory is O(T·B),
and training then runs where the estimator runs, on those rows in step order.

At person level a person's steps are a keyed function of the secret and their
canonical id (:func:`~sk_privattn.dpsgd._poisson.person_steps`), so a person whose rows lie in
several partitions is sampled at the same steps in each, without a shuffle.
With ``max_rows_per_person`` each partition sends at most k rows per person and
step (its k smallest bottom-k priorities) and the driver keeps the k smallest of
those: a person with a million rows never floods the driver.

Counts
------
The plan needs its count before the pass, so the exact count is a prior,
cheap pass (:func:`count_units`: one length per partition, summed on the
driver) or the Parquet footers (:func:`parquet_row_count`: no pass at all).
Either is exact, so it is private: release it with a DP count before a plan
reads it. Distinct persons add up over partitions only when no person
straddles two, so a person count needs the data partitioned by person (the
person id as the index, with known divisions) and refuses otherwise.

What comes back, and what does not
----------------------------------
Every value that reaches the driver ends up in some output, so the functions
here return only the sampled rows, their steps, a code that groups a step's
rows by person, and counts wrapped in :class:`ExactCount` (whose repr hides the
value). They never return what Dask derives from the data: its keys and tokens
hash the input's content, and divisions, chunk sizes and partition lengths
are statistics of the rows. Partition lengths are read inside the tasks
only. Errors raised in a task name the partition's position and the fix, never
a value of the data. A lost partition is an error, never a smaller data set:
the pass checks that every partition answered. A retried partition draws the
same sample, since every draw is keyed by the partition's position and the
step. The position is the partition's order in the collection, so the same
secret on the same collection gives the same sample on any scheduler. The
secret travels to the workers inside the task graph, so the scheduler and the
workers must be trusted as much as the data they hold.

Tasks travel to the workers by value
------------------------------------
Importing any module of ``sk_privattn`` runs the package's ``__init__``, which
imports torch, Opacus and skorch: about 3 s and 300 MB more per worker, often
more than a worker's memory limit leaves. So the functions that run on the
workers (this module's and :mod:`sk_privattn.dpsgd._poisson`'s) are sent by value with
cloudpickle (:class:`_ByValue`): a worker needs numpy, pandas and Dask, not
sk_privattn, and runs the driver's version of the code. Dask is an optional
dependency (the ``[dask]`` extra).
"""

import functools
import numbers
import sys
from dataclasses import dataclass

import numpy as np

from ..dpsgd import _poisson
from ..privacy._metadata import _counts
from ..dpsgd._poisson import (
    ROWS,
    bottom_k,
    check_plan,
    check_secret,
    group_rows,
    person_codes,
    person_step_rows,
    person_steps,
    poisson_rows,
    random_stream,
)

try:
    import cloudpickle
    import dask
except ImportError:  # the [dask] extra is not installed
    cloudpickle = dask = None

#: The column that carries ``y`` beside a Dask DataFrame's own columns through the pass.
_TARGET = "__sk_privattn_target__"

__all__ = [
    "ExactCount",
    "SampledSteps",
    "column_kinds",
    "count_units",
    "parquet_row_count",
    "reduce_partitions",
    "sample_steps",
]


@dataclass(frozen=True, repr=False)
class ExactCount:
    """An exact count of rows or persons: private until a DP count releases it.

    Its repr hides the value, so that a log or an error message that prints
    it leaks nothing; read ``value`` only to pass it to a DP count.

    Attributes
    ----------
    value : int
    unit : {"rows", "persons"}
    """

    value: int
    unit: str

    def __repr__(self):
        return f"ExactCount(unit={self.unit!r}, value=<private: release it with a DP count>)"


@dataclass(frozen=True)
class SampledSteps:
    """The rows of every step's Poisson batch, in step order.

    Attributes
    ----------
    X : pandas.DataFrame or ndarray
        The sampled rows (a Dask DataFrame's columns, index dropped, or a
        dask array's rows). A row sampled at several steps appears once per step.
    y : ndarray or None
    step : ndarray of int64
        The step of each row, non-decreasing.
    person : ndarray of intp or None
        At person level, a code per row that groups a step's rows by person
        (a step's rows are grouped by it); None at row level.
    steps : int
        The plan's T; ``rows_of(t)`` is empty for a step that sampled nothing.
    reduced : tuple
        With ``partition_reduction``, its value on each partition, in partition order
        (for example the partition's histograms, which the driver sums); empty otherwise.
    """

    X: object
    y: object
    step: np.ndarray
    person: object
    steps: int
    reduced: tuple = ()

    def rows_of(self, step):
        """The slice of ``X`` (and ``y``, ``person``) that holds ``step``'s batch."""
        start, stop = np.searchsorted(self.step, [step, step + 1])
        return slice(int(start), int(stop))


class _ByValue:
    """``function``, pickled by value: unpickling it on a worker imports numpy, never sk_privattn.

    Its ``__reduce__`` turns it into ``cloudpickle.loads(payload)``, where the
    payload holds the function and the functions of this module and of
    :mod:`sk_privattn.dpsgd._poisson` that it calls, by value. Called in the driver's process
    (the local schedulers), it is the function itself.
    """

    def __init__(self, function):
        self.function = function
        self.__name__ = getattr(function, "__name__", getattr(getattr(function, "func", None), "__name__", "task"))
        self._payload = None

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)

    def __reduce__(self):
        if self._payload is None:
            self._payload = _dumps_by_value(self.function)
        return cloudpickle.loads, (self._payload,)


def _dumps_by_value(function):
    modules = [sys.modules[__name__], _poisson, _counts]
    registered = set(cloudpickle.list_registry_pickle_by_value())
    added = [module for module in modules if module.__name__ not in registered]
    for module in added:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(function)
    finally:
        for module in added:
            cloudpickle.unregister_pickle_by_value(module)


def _require_dask():
    if dask is None:
        raise ImportError("The Dask pass needs dask and distributed: pip install 'sk_privattn[dask]'.")


def _is_dask_frame(X):
    """A Dask DataFrame or Series (which have divisions), rather than a dask array."""
    return dask.is_dask_collection(X) and hasattr(X, "divisions")


def partitions(collection):
    """The collection's partitions as Delayed objects, in order (rows only, for an array)."""
    if not dask.is_dask_collection(collection):
        raise TypeError(
            f"Expected a Dask DataFrame, Series or array; got {type(collection).__name__}. Wrap in-memory data "
            "with dask.dataframe.from_pandas, or read Parquet with dask.dataframe.read_parquet."
        )
    if _is_dask_frame(collection) or collection.ndim == 1:
        return list(collection.to_delayed())
    if collection.ndim == 2 and collection.numblocks[1] != 1:
        collection = collection.rechunk({1: -1})
    return list(np.asarray(collection.to_delayed(), dtype=object).ravel())


def _aligned(X, other, name):
    """``other`` chunked along the rows as ``X`` is, or a ValueError."""
    if other is None or isinstance(other, str) or _is_dask_frame(X) or other.chunks[0] == X.chunks[0]:
        return other
    if not (np.isnan(X.chunks[0]).any() or np.isnan(other.chunks[0]).any()):
        return other.rechunk({0: X.chunks[0]})
    if len(other.chunks[0]) == len(X.chunks[0]):
        return other  # sizes unknown here: each task checks that its blocks agree
    raise ValueError(
        f"{name} has {len(other.chunks[0])} row blocks and X has {len(X.chunks[0])}, of unknown sizes; "
        f"chunk {name} as X (for example, derive both from one array)."
    )


def sample_steps(X, y=None, *, steps, sample_rate, secret, person_id=None, max_rows_per_person=None,
                 scheduler=None, schema=None, partition_reduction=None):
    """Every step's Poisson batch of a Dask collection, drawn where each partition lives.

    Parameters
    ----------
    X : dask.dataframe.DataFrame or dask.array.Array
        The data; a Parquet source goes through ``dask.dataframe.read_parquet``.
        An array is split along its rows only.
    y : dask Series or dask Array, default=None
        The target, partitioned as ``X``.
    steps : int
        The plan's T.
    sample_rate : float
        The plan's q, from a public or DP count.
    secret : int
        Keys every draw (:func:`~sk_privattn.dpsgd._poisson.new_secret`); must stay secret.
    person_id : str or dask Series or dask Array, default=None
        At person level: a column of ``X``, the name of its index, or ids
        partitioned as ``X``.
    max_rows_per_person : int, default=None
        The most rows a sampled person brings to a step; None brings all.
    scheduler : str or distributed.Client, default=None
        Passed to ``dask.compute``; None uses the default ``Client``, if any,
        else Dask's default scheduler.
    schema : sequence of (str, bool), default=None
        Each column's name and whether it is categorical
        (:func:`column_kinds` of the collection's metadata): a partition whose
        columns or kinds differ fails the pass, naming its position, before any
        training.
    partition_reduction : callable, default=None
        ``partition_reduction(part, y_part)`` runs on each partition in the same
        task, and its values come back in ``SampledSteps.reduced``: a sum over
        partitions (a count, histograms) costs no second pass. It travels by
        value as the pass's own functions do, so it must not need sk_privattn
        on the workers.

    Returns
    -------
    SampledSteps

    Examples
    --------
    >>> import pytest
    >>> dd = pytest.importorskip("dask.dataframe")
    >>> import pandas as pd
    >>> from sk_privattn.data._dask_pass import sample_steps
    >>> X = dd.from_pandas(pd.DataFrame({"a": range(10_000)}), npartitions=4)
    >>> sampled = sample_steps(X, steps=3, sample_rate=0.01, secret=5, scheduler="sync")
    >>> sizes = [len(sampled.X.iloc[sampled.rows_of(t)]) for t in range(3)]
    >>> [50 < size < 150 for size in sizes], list(sampled.X.columns)
    ([True, True, True], ['a'])
    """
    _require_dask()
    steps, sample_rate = check_plan(steps, sample_rate)
    secret = check_secret(secret)
    _check_cap(max_rows_per_person, person_id)
    target = None
    if y is not None and _is_dask_frame(X) and _is_dask_frame(y):
        # One frame, so that one partitioning holds both: Dask may fuse the partitions of a
        # projection (y = frame["y"] alone reads fewer, larger partitions than the other columns).
        X, y, target = X.assign(**{_TARGET: y}), None, _TARGET
    y, person_id = _aligned(X, y, "y"), _aligned(X, person_id, "person_id")
    parts = partitions(X)
    y_parts = partitions(y) if y is not None else [None] * len(parts)
    id_parts = partitions(person_id) if person_id is not None and not isinstance(person_id, str) else None
    if len(y_parts) != len(parts) or (id_parts is not None and len(id_parts) != len(parts)):
        raise ValueError(
            f"X has {len(parts)} partitions but y or person_id has another number; partition them as X "
            "(for example, take them from the same Dask DataFrame)."
        )
    plan = dict(steps=steps, sample_rate=sample_rate, secret=secret, max_rows_per_person=max_rows_per_person,
                schema=None if schema is None else tuple(schema))
    person = person_id if isinstance(person_id, str) else None
    # The reduction bound inside the one callable by value (see reduce_partitions).
    sample_partition = _ByValue(_sample_partition if partition_reduction is None
                                else functools.partial(_sample_partition, reduction=partition_reduction))
    tasks = [
        dask.delayed(sample_partition, pure=False)(
            part, y_part, id_parts[i] if id_parts is not None else None,
            partition=i, person_column=person, person_level=person_id is not None, target_column=target, **plan,
        )
        for i, (part, y_part) in enumerate(zip(parts, y_parts))
    ]
    results = dask.compute(*tasks, scheduler=scheduler)
    return _gather(results, len(parts), steps, max_rows_per_person)


def reduce_partitions(X, y, function, *, person_id=None, scheduler=None, **arguments):
    """``function(part, y_part, person, **arguments)`` on each partition of ``X``, where it lives: its
    values in partition order, each partition answered once (a lost one is an error).

    ``y`` is partitioned as ``X`` (or None); ``person`` holds the partition's person codes
    (:func:`~sk_privattn.dpsgd._poisson.person_codes` of the index named ``person_id``, which
    :func:`check_partitioned_by_person` has checked), or None at row level. ``function``
    travels by value (it may call this module's functions and those of
    :mod:`sk_privattn.privacy._metadata._counts`, never sk_privattn's others), and what it
    returns reaches the driver: a sum over rows (histograms) that a DP release noises.
    """
    _require_dask()
    target = None
    if y is not None and _is_dask_frame(X) and _is_dask_frame(y):
        X, y, target = X.assign(**{_TARGET: y}), None, _TARGET  # one partitioning for both (sample_steps)
    y = _aligned(X, y, "y")
    parts = partitions(X)
    y_parts = partitions(y) if y is not None else [None] * len(parts)
    if len(y_parts) != len(parts):
        raise ValueError(f"X has {len(parts)} partitions but y has {len(y_parts)}; partition y as X.")
    # One callable by value, ``function`` bound inside: a callable among a task's arguments would
    # reach the workers by reference (the scheduler unpickles and pickles the arguments again).
    reduce_partition = _ByValue(functools.partial(_reduce_partition, function=function))
    tasks = [
        dask.delayed(reduce_partition, pure=False)(part, y_part, partition=i, person_column=person_id,
                                                   target_column=target, arguments=arguments)
        for i, (part, y_part) in enumerate(zip(parts, y_parts))
    ]
    results = dask.compute(*tasks, scheduler=scheduler)
    if sorted(partition for partition, _ in results) != list(range(len(parts))):
        raise RuntimeError(f"Not every one of the {len(parts)} partitions answered; rerun once the workers are back.")
    return [value for _, value in sorted(results, key=lambda result: result[0])]


def _reduce_partition(part, y_part, *, function, partition, person_column, target_column, arguments):
    """On a worker: ``function`` on one partition (see :func:`reduce_partitions`)."""
    if target_column is not None:
        part, y_part = part.drop(columns=[target_column]), part[target_column]
    if y_part is not None and len(y_part) != len(part):
        raise ValueError(f"y and X differ in length in partition {partition}; partition y as X.")
    person = None
    if person_column is not None:
        person = person_codes(_partition_ids(part, None, person_column, len(part), partition))[1]
    return partition, function(part, y_part, person, **arguments)


def column_kinds(frame):
    """``((name, is_categorical), ...)`` of a pandas DataFrame's columns: category, text,
    object and boolean columns are categorical, the others numeric (as :mod:`._frames` reads
    them). A Dask DataFrame's dtypes are its schema, known without computing anything.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_privattn.data._dask_pass import column_kinds
    >>> column_kinds(pd.DataFrame({"a": [1.0], "b": ["x"], "c": pd.Categorical(["u"])}))
    (('a', False), ('b', True), ('c', True))
    """
    from pandas.api import types

    return tuple((name, not (types.is_numeric_dtype(dtype) and not types.is_bool_dtype(dtype)))
                 for name, dtype in frame.dtypes.items())


def _check_schema(part, schema, partition):
    """A partition's columns and kinds are the schema's, or a ValueError naming the partition."""
    if schema is None or not hasattr(part, "dtypes"):
        return
    found = column_kinds(part)
    if found != schema:
        describe = lambda kinds: ", ".join(f"{name} ({'categorical' if c else 'numeric'})" for name, c in kinds)  # noqa: E731
        raise ValueError(
            f"Partition {partition} has the columns {describe(found)}, but the data's schema is "
            f"{describe(schema)}: every file or partition must have the same columns, in the same order, of "
            "the same kinds. Rewrite the files that differ, or read them with the schema fixed "
            "(dask.dataframe.read_parquet(..., columns=[...]) and astype)."
        )


def _check_cap(max_rows_per_person, person_id):
    if max_rows_per_person is None:
        return
    if person_id is None:
        raise ValueError("max_rows_per_person needs person_id: give the person of every row, or leave the cap at None.")
    if isinstance(max_rows_per_person, (bool, np.bool_)) or not isinstance(max_rows_per_person, numbers.Integral) or (
        max_rows_per_person < 1
    ):
        raise ValueError(f"max_rows_per_person must be None or an int >= 1; got {max_rows_per_person!r}.")


def _sample_partition(part, y_part, id_part, *, partition, person_column, person_level, steps, sample_rate,
                      secret, max_rows_per_person, schema=None, reduction=None, target_column=None):
    """On a worker: the rows of one partition sampled at each step (module docstring)."""
    if target_column is not None:
        part, y_part = part.drop(columns=[target_column]), part[target_column]
    _check_schema(part, schema, partition)
    n_rows = len(part)
    if y_part is not None and len(y_part) != n_rows:
        raise ValueError(f"y and X differ in length in partition {partition}; partition y as X.")
    if person_level:
        ids = _partition_ids(part, id_part, person_column, n_rows, partition)
        rows, step, person, priority = _person_rows(ids, partition, steps, sample_rate, secret, max_rows_per_person)
    else:
        rows, step = _row_samples(n_rows, partition, steps, sample_rate, secret)
        person = priority = None
    return {
        "partition": partition,
        "X": _take(part, rows),
        "y": None if y_part is None else np.asarray(_take(y_part, rows)),
        "step": step,
        "person": person,
        "priority": priority,
        "reduced": None if reduction is None else reduction(part, y_part),
    }


def _take(part, rows):
    return part.iloc[rows] if hasattr(part, "iloc") else np.asarray(part)[rows]


def _in_order(X, order):
    return X.iloc[order].reset_index(drop=True) if hasattr(X, "iloc") else X[order]


def _row_samples(n_rows, partition, steps, sample_rate, secret):
    samples = [poisson_rows(n_rows, sample_rate, random_stream(secret, ROWS, partition, t)) for t in range(steps)]
    step = np.repeat(np.arange(steps, dtype=np.int64), [len(rows) for rows in samples])
    return np.concatenate([np.zeros(0, np.int64), *samples]), step


def _partition_ids(part, id_part, person_column, n_rows, partition):
    if id_part is not None:
        ids = np.asarray(id_part)
    elif person_column in getattr(part, "columns", ()):
        ids = part[person_column].to_numpy()
    elif getattr(getattr(part, "index", None), "name", None) == person_column:
        ids = part.index.to_numpy()
    else:
        raise ValueError(
            f"person_id={person_column!r} is neither a column of X nor the name of its index; "
            "give the column that holds the person of each row."
        )
    if len(ids) != n_rows:
        raise ValueError(f"person_id and X differ in length in partition {partition}; partition person_id as X.")
    return ids


def _person_rows(raw_ids, partition, steps, sample_rate, secret, max_rows_per_person):
    """Rows of the persons sampled at each step, at most k per person (bottom-k), with their canonical ids."""
    ids, code = person_codes(raw_ids)
    order, starts = group_rows(code, len(ids))
    person, step = person_steps(ids, steps=steps, sample_rate=sample_rate, secret=secret)
    by_step = np.lexsort((person, step))
    person, step = person[by_step], step[by_step]
    rows, steps_of_rows, persons, priorities = [np.zeros(0, np.intp)], [np.zeros(0, np.int64)], [], [np.zeros(0)]
    for t in np.unique(step):
        low, high = np.searchsorted(step, [t, t + 1])
        kept, kept_person, priority = person_step_rows(
            person[low:high], order, starts, step=int(t), secret=secret, partition=partition,
            max_rows_per_person=max_rows_per_person,
        )
        rows.append(kept)
        steps_of_rows.append(np.full(len(kept), t, dtype=np.int64))
        persons.append(ids[kept_person])
        priorities.append(priority)
    canonical = np.concatenate([np.zeros(0, dtype=object), *persons])
    return np.concatenate(rows), np.concatenate(steps_of_rows), canonical, np.concatenate(priorities)


def _gather(results, n_partitions, steps, max_rows_per_person):
    """On the driver: check that every partition answered, merge the cap, order by step."""
    answered = {result["partition"] for result in results}
    if answered != set(range(n_partitions)) or len(results) != n_partitions:
        raise RuntimeError(
            f"{n_partitions - len(answered)} of the {n_partitions} partitions did not answer; the pass "
            "refuses to train on a smaller data set. Rerun it once the workers are back."
        )
    X = _concatenate([result["X"] for result in results])
    y = None if results[0]["y"] is None else np.concatenate([result["y"] for result in results])
    step = np.concatenate([result["step"] for result in results])
    if results[0]["person"] is None:
        order = np.argsort(step, kind="stable")  # within a step: partition, then position
        person = None
    else:
        order, person = _merge_persons(results, step, max_rows_per_person)
    y = None if y is None else y[order]
    reduced = tuple(result.get("reduced") for result in sorted(results, key=lambda result: result["partition"]))
    return SampledSteps(_in_order(X, order), y, step[order], None if person is None else person[order], steps,
                        reduced if results[0].get("reduced") is not None else ())


def _merge_persons(results, step, max_rows_per_person):
    """The order of the kept rows (by step, then person), and each row's person code."""
    _, person = np.unique(np.concatenate([result["person"] for result in results]), return_inverse=True)
    keep = np.ones(len(step), dtype=bool)
    if max_rows_per_person is not None:  # the k smallest priorities of each (step, person), over partitions
        priority = np.concatenate([result["priority"] for result in results])
        keep = bottom_k(step * (int(person.max(initial=0)) + 1) + person, priority, max_rows_per_person)
    kept = np.flatnonzero(keep)
    return kept[np.lexsort((person[kept], step[kept]))], person.astype(np.intp)


def _concatenate(parts):
    if hasattr(parts[0], "iloc"):
        import pandas as pd  # a Dask DataFrame's partitions are pandas objects

        return pd.concat(parts, ignore_index=True)
    return np.concatenate(parts)


def count_units(X, *, person_id=None, scheduler=None):
    """The exact number of rows of a Dask collection, or of distinct persons: a prior, cheap pass.

    Parameters
    ----------
    X : dask.dataframe.DataFrame or dask.array.Array
    person_id : str, default=None
        Count distinct persons: the name of ``X``'s index, which must hold
        the person id with known divisions (``X.set_index(person_id)``), so
        that no person straddles two partitions.
    scheduler : str or distributed.Client, default=None

    Returns
    -------
    ExactCount
        Private: release it with a DP count before a plan reads it.

    Raises
    ------
    ValueError
        For a person count on data that is not partitioned by person.

    Examples
    --------
    >>> import pytest
    >>> dd = pytest.importorskip("dask.dataframe")
    >>> import pandas as pd
    >>> from sk_privattn.data._dask_pass import count_units
    >>> X = dd.from_pandas(pd.DataFrame({"a": range(100)}), npartitions=3)
    >>> count_units(X, scheduler="sync").value
    100
    """
    _require_dask()
    if person_id is None:
        tasks = [dask.delayed(len, pure=False)(part) for part in partitions(X)]
        return ExactCount(int(sum(dask.compute(*tasks, scheduler=scheduler))), "rows")
    check_partitioned_by_person(X, person_id)
    divisions, count_persons = X.divisions, _ByValue(_count_persons)
    tasks = [
        dask.delayed(count_persons, pure=False)(part, divisions[i], divisions[i + 1], i, i == len(divisions) - 2)
        for i, part in enumerate(partitions(X))
    ]
    return ExactCount(int(sum(dask.compute(*tasks, scheduler=scheduler))), "persons")


def check_partitioned_by_person(X, person_id):
    if not (_is_dask_frame(X) and X.index.name == person_id and X.known_divisions):
        raise ValueError(
            f"Counting distinct persons (person_id={person_id!r}) needs the data partitioned by person, so "
            "that no person's rows straddle two partitions: make the person id the index with known "
            f"divisions, X = X.set_index({person_id!r}), or give a public count of persons instead."
        )


def _count_persons(part, low, high, partition, last):
    """On a worker: the distinct persons of one partition, once its index is checked against its division."""
    index = part.index
    if len(index) and (index.min() < low or index.max() > high or (not last and index.max() == high)):
        raise ValueError(
            f"Partition {partition} holds person ids outside its division, so a person may straddle "
            "two partitions; repartition by person with X.set_index(person_id)."
        )
    return len(person_codes(index.to_numpy())[0])


def parquet_row_count(path, *, filesystem=None):
    """The exact number of rows of a Parquet file or directory, read from the footers alone.

    Parameters
    ----------
    path : str or path-like
    filesystem : pyarrow.fs.FileSystem, default=None

    Returns
    -------
    ExactCount
        Private: release it with a DP count before a plan reads it.

    Examples
    --------
    >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> from sk_privattn.data._dask_pass import parquet_row_count
    >>> folder = tempfile.mkdtemp()
    >>> pq.write_table(pa.table({"a": range(7)}), f"{folder}/part-0.parquet")
    >>> pq.write_table(pa.table({"a": range(5)}), f"{folder}/part-1.parquet")
    >>> parquet_row_count(folder).value
    12
    """
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(path), format="parquet", filesystem=filesystem)
    return ExactCount(int(sum(fragment.metadata.num_rows for fragment in dataset.get_fragments())), "rows")
