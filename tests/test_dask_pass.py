"""The one pass over a Dask collection that draws every step's Poisson batch (sk_privattn.data._dask_pass).

A module-scoped ``distributed.LocalCluster`` of 2 worker processes, each with a
memory limit (400 MiB) below the size of the Parquet data it reads (432 MB
in memory, in partitions of 9 MB: a worker's own baseline, with pandas and
pyarrow loaded, is about 170 MB), and Dask's synchronous scheduler. Statistical thresholds fail with
probability well under 1e-5 for a sampler of the right distribution (z-scores
above 6.5, over at most a few thousand comparisons); the secrets are fixed.
"""

import math
import os

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sk_privattn.dpsgd._poisson import person_codes, person_steps
from sk_privattn.dpsgd._sampling import PersonBatches, RowBatches, person_index

dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import dask  # noqa: E402

from sk_privattn.data._dask_pass import (  # noqa: E402
    ExactCount,
    _gather,
    _sample_partition,
    count_units,
    parquet_row_count,
    sample_steps,
)

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")  # dask on pandas 3.1

Z_CEILING = 6.5
WORKER_MEMORY = 400 * 2**20
FILES, ROWS_PER_FILE, COLUMNS = 48, 125_000, 8  # 6M rows x (8 float64 + 1 int64): 432 MB in memory


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, memory_limit=WORKER_MEMORY, dashboard_address=None
    ) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory):
    """Columns that are functions of the global row number, so that a returned row can be checked."""
    folder = tmp_path_factory.mktemp("parquet")
    for f in range(FILES):
        row = np.arange(f * ROWS_PER_FILE, (f + 1) * ROWS_PER_FILE, dtype=np.int64)
        table = {"row": row, **{f"x{j}": row * (j + 1.0) for j in range(COLUMNS)}}
        pq.write_table(pa.table(table), folder / f"part-{f:02d}.parquet", compression="none")
    return folder



def _persons(person_id):
    return person_index(person_id, len(person_id))

def frame_with_persons(n_rows=6000, n_persons=900, seed=0):
    rng = np.random.default_rng(seed)
    person = rng.integers(0, n_persons, n_rows)
    return pd.DataFrame({"person": person, "row": np.arange(n_rows), "x": rng.normal(size=n_rows)})


def persons_by_step(sampled, frame_ids):
    return [set(frame_ids[sampled.rows_of(t)]) for t in range(sampled.steps)]


# Parquet on a cluster whose workers hold less than the data -------------------------------------


def test_parquet_row_count_reads_the_footers(tmp_path):
    for f, n_rows in enumerate([700, 0, 1300]):
        table = pa.table({"a": np.arange(n_rows, dtype=float)})
        pq.write_table(table, tmp_path / f"part-{f}.parquet", row_group_size=500)
    count = parquet_row_count(tmp_path)
    assert count.value == 2000 and count.unit == "rows"
    assert str(count.value) not in repr(count) and "private" in repr(count)
    assert parquet_row_count(tmp_path / "part-2.parquet").value == 1300


def test_the_pass_over_parquet_on_the_cluster_matches_the_local_scheduler(client, parquet_dir):
    n, steps, q = FILES * ROWS_PER_FILE, 8, 1e-3
    assert n * (COLUMNS + 1) * 8 > WORKER_MEMORY
    X = dd.read_parquet(parquet_dir)
    on_cluster = sample_steps(X, steps=steps, sample_rate=q, secret=21, scheduler=client)
    sizes = np.diff([on_cluster.rows_of(t).start for t in range(steps)] + [len(on_cluster.X)])
    assert np.all(np.abs(sizes - n * q) < Z_CEILING * math.sqrt(n * q * (1 - q)))
    rows = on_cluster.X["row"].to_numpy()
    for j in range(COLUMNS):  # the rows came back whole
        np.testing.assert_array_equal(on_cluster.X[f"x{j}"].to_numpy(), rows * (j + 1.0))
    for t in range(steps):
        assert len(np.unique(rows[on_cluster.rows_of(t)])) == sizes[t]
    assert list(on_cluster.X.index) == list(range(len(rows)))  # the partitions' index is not returned
    local = sample_steps(X, steps=steps, sample_rate=q, secret=21, scheduler="sync")
    pd.testing.assert_frame_equal(on_cluster.X, local.X)
    np.testing.assert_array_equal(on_cluster.step, local.step)
    # the tasks travelled by value: no worker imported sk_privattn, hence torch
    imported = client.run(lambda: [name for name in ("torch", "sk_privattn") if name in __import__("sys").modules])
    assert all(names == [] for names in imported.values())


def test_an_estimator_fits_on_parquet_through_the_cluster(client, parquet_dir, monkeypatch):
    """The estimator's Dask path on the cluster: a count, then one pass, then training on the
    gathered rows; an "auto" plan above AUTO_MAX_ROWS (lowered here) takes a share of an epoch."""
    from sk_privattn import DPAttentionClassifier
    from sk_privattn.privacy import _plan

    monkeypatch.setattr(_plan, "AUTO_MAX_ROWS", 3000)
    table = dd.read_parquet(parquet_dir)
    X, y = table[[f"x{j}" for j in range(COLUMNS)]], (table["row"] % 2).astype("int64")
    # No bounds: each column's range is released with DP from histograms summed on the workers.
    clf = DPAttentionClassifier(epsilon=1.0, random_state=0, classes=[0, 1], d_token=8, n_heads=2)
    with dask.config.set(scheduler=client):
        clf.fit(X, y)
    assert clf.max_epochs_ == 1 and abs(clf.n_steps_ * clf.batch_size_ - 3000) <= clf.batch_size_
    assert list(clf.feature_names_in_) == list(X.columns) and clf.count_ > 5_000_000
    top = FILES * ROWS_PER_FILE * (np.arange(COLUMNS) + 1.0)  # x_j = row * (j + 1)
    # near the 1 % and 99 % quantiles, within the width of a refined bin
    assert np.all(clf.bounds_[:, 0] < 0.02 * top) and np.all(np.abs(clf.bounds_[:, 1] / (0.99 * top) - 1) < 0.06)
    imported = client.run(lambda: [name for name in ("torch", "sk_privattn") if name in __import__("sys").modules])
    assert all(names == [] for names in imported.values())


def test_person_level_on_the_cluster_matches_the_local_scheduler(client):
    frame = frame_with_persons()
    X = dd.from_pandas(frame, npartitions=5)
    kwargs = dict(steps=12, sample_rate=0.05, secret=3, person_id="person", max_rows_per_person=2)
    on_cluster, local = sample_steps(X, scheduler=client, **kwargs), sample_steps(X, scheduler="sync", **kwargs)
    pd.testing.assert_frame_equal(on_cluster.X, local.X)
    np.testing.assert_array_equal(on_cluster.person, local.person)


# Row level: the distribution --------------------------------------------------------------------


def test_every_row_is_included_at_rate_q_independently_of_its_partition():
    n, steps, q = 3000, 2000, 0.05
    frame = pd.DataFrame({"row": np.arange(n)})
    parts = [frame.iloc[a:b] for a, b in [(0, 100), (100, 1100), (1100, 1150), (1150, 3000)]]
    X = dd.from_pandas(frame, npartitions=1).repartition(divisions=[0, 100, 1100, 1150, 2999])
    assert X.npartitions == len(parts)
    sampled = sample_steps(X, steps=steps, sample_rate=q, secret=8, scheduler="sync")
    rows, step = sampled.X["row"].to_numpy(), sampled.step
    counts = np.bincount(rows, minlength=n)
    assert np.abs(counts - steps * q).max() < Z_CEILING * math.sqrt(steps * q * (1 - q))
    sizes = np.bincount(step, minlength=steps)
    assert abs(sizes.mean() - n * q) < Z_CEILING * math.sqrt(n * q * (1 - q) / steps)
    included = np.zeros((steps, n), dtype=bool)
    included[step, rows] = True
    pairs = np.array([[i, i + 1] for i in (99, 1099, 1149)] + [[i, i + 1000] for i in range(0, 2000, 20)])
    correlation = [np.corrcoef(included[:, a], included[:, b])[0, 1] for a, b in pairs]
    assert np.abs(correlation).max() < Z_CEILING / math.sqrt(steps)


def test_one_partition_is_the_in_memory_batch_source():
    X = dd.from_pandas(pd.DataFrame({"row": np.arange(5000)}), npartitions=1)
    sampled = sample_steps(X, steps=6, sample_rate=0.02, secret=4, scheduler="sync")
    for t, rows in enumerate(RowBatches(5000, steps=6, sample_rate=0.02, secret=4)):
        np.testing.assert_array_equal(sampled.X["row"].to_numpy()[sampled.rows_of(t)], rows)


def test_a_dask_array_and_its_target():
    values = np.arange(3000.0).reshape(1000, 3)
    X = da.from_array(values, chunks=(170, 2))
    y = da.from_array(values[:, 0] * 10, chunks=300)
    sampled = sample_steps(X, y, steps=5, sample_rate=0.1, secret=2, scheduler="sync")
    assert isinstance(sampled.X, np.ndarray) and sampled.X.shape[1] == 3
    np.testing.assert_array_equal(sampled.y, sampled.X[:, 0] * 10)
    np.testing.assert_array_equal(sampled.X[:, 1], sampled.X[:, 0] + 1)
    assert np.all(np.diff(sampled.step) >= 0) and sampled.person is None
    person_id = da.from_array(values[:, 0].astype(int) // 4, chunks=170)
    by_person = sample_steps(X, y, steps=5, sample_rate=0.1, secret=2, person_id=person_id, max_rows_per_person=1,
                             scheduler="sync")
    for t in range(5):
        persons = by_person.X[by_person.rows_of(t), 0].astype(int) // 4
        assert len(np.unique(persons)) == len(persons)


def test_a_target_chunked_otherwise_is_rechunked_as_x():
    values = np.arange(600.0)
    X = da.from_array(values.reshape(-1, 1), chunks=((100, 200, 300), (1,)))
    y = da.from_array(values, chunks=((300, 200, 100),))
    sampled = sample_steps(X, y, steps=3, sample_rate=0.2, secret=0, scheduler="sync")
    np.testing.assert_array_equal(sampled.X[:, 0], sampled.y)


def test_a_dask_series_as_the_target():
    frame = pd.DataFrame({"x": np.arange(2000.0), "label": np.arange(2000) % 3})
    X = dd.from_pandas(frame, npartitions=4)
    sampled = sample_steps(X[["x"]], X["label"], steps=4, sample_rate=0.05, secret=1, scheduler="sync")
    np.testing.assert_array_equal(sampled.y, sampled.X["x"].to_numpy().astype(int) % 3)


# Retries and lost partitions --------------------------------------------------------------------


def test_a_retried_partition_draws_the_same_sample():
    part = frame_with_persons(n_rows=800)
    plan = dict(steps=30, sample_rate=0.05, secret=6, max_rows_per_person=None, person_column=None)
    first = _sample_partition(part, None, None, partition=3, person_level=False, **plan)
    again = _sample_partition(part.copy(), None, None, partition=3, person_level=False, **plan)
    pd.testing.assert_frame_equal(first["X"], again["X"])
    np.testing.assert_array_equal(first["step"], again["step"])
    other = _sample_partition(part, None, None, partition=4, person_level=False, **plan)
    assert not first["X"].equals(other["X"])
    plan.update(max_rows_per_person=1, person_column="person")
    first = _sample_partition(part, None, None, partition=3, person_level=True, **plan)
    again = _sample_partition(part, None, None, partition=3, person_level=True, **plan)
    pd.testing.assert_frame_equal(first["X"], again["X"])
    np.testing.assert_array_equal(first["priority"], again["priority"])


def test_a_lost_partition_is_an_error():
    def lost():
        raise OSError("the worker that held this partition died")

    good = dask.delayed(pd.DataFrame)({"a": [1.0, 2.0]})
    X = dd.from_delayed([good, dask.delayed(lost)()], meta=pd.DataFrame({"a": [1.0]}).iloc[:0], verify_meta=False)
    with pytest.raises(OSError, match="worker that held this partition died"):
        sample_steps(X, steps=2, sample_rate=0.5, secret=0, scheduler="sync")


def test_a_partition_that_did_not_answer_is_refused():
    answer = _sample_partition(pd.DataFrame({"a": [1.0]}), None, None, partition=0, person_column=None,
                               person_level=False, steps=1, sample_rate=1.0, secret=0, max_rows_per_person=None)
    with pytest.raises(RuntimeError, match="1 of the 2 partitions did not answer; .*smaller data set"):
        _gather([answer], 2, steps=1, max_rows_per_person=None)


def test_a_deleted_parquet_file_is_an_error(tmp_path):
    for f in range(2):
        pq.write_table(pa.table({"a": np.arange(100.0)}), tmp_path / f"part-{f}.parquet")
    X = dd.read_parquet(tmp_path)
    os.remove(tmp_path / "part-1.parquet")
    with pytest.raises(Exception, match="part-1.parquet"):
        sample_steps(X, steps=2, sample_rate=0.5, secret=0, scheduler="sync")


# Person level -----------------------------------------------------------------------------------


def test_persons_agree_across_partitionings_and_with_their_keyed_steps():
    frame = frame_with_persons()
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    kwargs = dict(steps=15, sample_rate=0.04, secret=12, person_id="person", scheduler="sync")
    a = sample_steps(dd.from_pandas(frame, npartitions=3), **kwargs)
    b = sample_steps(dd.from_pandas(shuffled, npartitions=7), **kwargs)
    ids, _ = person_codes(frame["person"].to_numpy())
    person, step = person_steps(ids, steps=15, sample_rate=0.04, secret=12)
    expected = [set(ids[person[step == t]].astype(int)) for t in range(15)]
    assert persons_by_step(a, a.X["person"].to_numpy()) == expected
    assert persons_by_step(b, b.X["person"].to_numpy()) == expected
    # without a cap every row of a sampled person comes, in both partitionings
    for t in range(15):
        assert sorted(a.X["row"].to_numpy()[a.rows_of(t)]) == sorted(b.X["row"].to_numpy()[b.rows_of(t)])


def test_the_cap_keeps_at_most_k_rows_of_a_person_over_all_partitions():
    frame = frame_with_persons(n_rows=6000, n_persons=300)  # about 20 rows each, over every partition
    X = dd.from_pandas(frame.sample(frac=1.0, random_state=0), npartitions=6)
    sampled = sample_steps(X, steps=10, sample_rate=0.1, secret=5, person_id="person", max_rows_per_person=3,
                           scheduler="sync")
    rows_per_person = frame.groupby("person").size()
    for t in range(10):
        block = sampled.X.iloc[sampled.rows_of(t)]
        kept = block.groupby("person").size()
        np.testing.assert_array_equal(kept.to_numpy(), np.minimum(rows_per_person[kept.index].to_numpy(), 3))
        codes = sampled.person[sampled.rows_of(t)]
        assert np.all(np.diff(codes) >= 0), "a step's rows are grouped by person"
        assert len(set(zip(codes, block["person"]))) == len(set(codes))


def test_an_id_is_one_person_in_every_partition_whatever_its_type():
    ints = pd.DataFrame({"person": np.array([3, 4] * 50, dtype=object), "part": 0})
    strings = pd.DataFrame({"person": np.array(["3", "5"] * 50, dtype=object), "part": 1})
    parts = [dask.delayed(lambda frame: frame)(frame) for frame in (ints, strings)]
    X = dd.from_delayed(parts, meta=ints.iloc[:0], verify_meta=False)  # pandas 3 reads the strings as str
    sampled = sample_steps(X, steps=40, sample_rate=0.3, secret=2, person_id="person", scheduler="sync")
    for t in range(40):
        block = sampled.X.iloc[sampled.rows_of(t)]
        three = block[block["person"].astype(str) == "3"]
        assert len(three) in (0, 100), "person 3 is sampled in both partitions or in neither"
        if len(three):
            assert len(set(sampled.person[sampled.rows_of(t)][block["person"].astype(str) == "3"])) == 1


def test_polars_pyarrow_and_pandas_ids_give_the_same_sample():
    frame = frame_with_persons(n_rows=2000, n_persons=400)
    frame["person"] = "id-" + frame["person"].astype(str)
    ids = {
        "pandas": frame["person"],
        "polars": pl.from_pandas(frame)["person"],
        "pyarrow": pa.Table.from_pandas(frame)["person"],
    }
    samples = {
        name: [s.rows for s in map(PersonBatches(_persons(column), steps=8, sample_rate=0.05, secret=9,
                                                        max_rows_per_person=2).sample, range(8))]
        for name, column in ids.items()
    }
    assert all(np.array_equal(a, b) for a, b in zip(samples["pandas"], samples["polars"]))
    assert all(np.array_equal(a, b) for a, b in zip(samples["pandas"], samples["pyarrow"]))
    arrow_backed = frame.astype({"person": "string[pyarrow]"})
    for source in (frame, arrow_backed, pl.from_pandas(frame).to_pandas(use_pyarrow_extension_array=True)):
        sampled = sample_steps(dd.from_pandas(source, npartitions=1), steps=8, sample_rate=0.05, secret=9,
                               person_id="person", max_rows_per_person=2, scheduler="sync")
        for t in range(8):
            assert sorted(sampled.X["row"].to_numpy()[sampled.rows_of(t)]) == sorted(samples["pandas"][t])


# Counts -----------------------------------------------------------------------------------------


def test_count_units_counts_rows_and_persons_partitioned_by_person():
    frame = frame_with_persons(n_rows=3000, n_persons=500)
    X = dd.from_pandas(frame, npartitions=4)
    assert count_units(X, scheduler="sync").value == 3000
    assert count_units(da.from_array(np.zeros((3000, 2)), chunks=700), scheduler="sync").value == 3000
    by_person = X.set_index("person")
    count = count_units(by_person, person_id="person", scheduler="sync")
    assert count == ExactCount(frame["person"].nunique(), "persons")
    with pytest.raises(ValueError, match=r"needs the data partitioned by person.*X.set_index\('person'\)"):
        count_units(X, person_id="person")


def test_count_units_refuses_persons_outside_their_division():
    parts = [pd.DataFrame({"x": [0.0, 1.0]}, index=pd.Index(ids, name="person")) for ids in ([1, 5], [4, 8])]
    X = dd.from_delayed([dask.delayed(p) for p in parts], meta=parts[0].iloc[:0], divisions=[1, 4, 8])
    with pytest.raises(ValueError, match="Partition 0 holds person ids outside its division"):
        count_units(X, person_id="person", scheduler="sync")


# Validation -------------------------------------------------------------------------------------


def test_a_target_column_read_alone_follows_the_partitions_of_x(tmp_path):
    """Dask fuses the partitions of a projection (one Parquet column alone reads fewer, larger
    partitions); the pass carries y beside X's columns, so that both are partitioned alike."""
    for f in range(4):
        columns = {"a": np.arange(75.0) + 75 * f, "b": np.zeros(75), "c": np.ones(75), "y": np.arange(75) % 2}
        pq.write_table(pa.table(columns), tmp_path / f"{f}.parquet")
    table = dd.read_parquet(tmp_path)
    assert table.drop(columns="y").optimize().npartitions != table["y"].optimize().npartitions
    sampled = sample_steps(table.drop(columns="y"), table["y"], steps=3, sample_rate=0.2, secret=1, scheduler="sync")
    np.testing.assert_array_equal(sampled.y, sampled.X["a"].to_numpy().astype(int) % 75 % 2)
    assert list(sampled.X.columns) == ["a", "b", "c"]


def test_bad_arguments_name_the_parameter():
    X = dd.from_pandas(frame_with_persons(n_rows=100), npartitions=2)
    with pytest.raises(ValueError, match="max_rows_per_person needs person_id"):
        sample_steps(X, steps=2, sample_rate=0.1, secret=0, max_rows_per_person=2)
    with pytest.raises(ValueError, match=r"person_id='who' is neither a column of X nor the name of its index"):
        sample_steps(X, steps=2, sample_rate=0.1, secret=0, person_id="who", scheduler="sync")
    with pytest.raises(ValueError, match="X has 2 partitions but y or person_id has another number"):
        sample_steps(X, da.from_array(np.zeros(100), chunks=30), steps=2, sample_rate=0.1, secret=0)
    with pytest.raises(ValueError, match="sample_rate must be a probability"):
        sample_steps(X, steps=2, sample_rate=2.0, secret=0)
    with pytest.raises(TypeError, match=r"Expected a Dask DataFrame, Series or array; got DataFrame.*from_pandas"):
        sample_steps(frame_with_persons(), steps=2, sample_rate=0.1, secret=0)
