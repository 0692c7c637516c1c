"""``scale.py --paths``: one table, three ways in: in memory, Parquet on one machine (Dask's local
scheduler), and Parquet through a Dask ``LocalCluster`` of worker processes.

The table is ``_synthetic.py``'s (20 numeric and 2 categorical columns with interactions),
written once as uncompressed Parquet files of a million rows each in ``--data-dir``. Every fit
runs in a fresh process with the schema's public metadata, at ε = 1 by default, and is scored
on 200,000 other rows of the same population. The fit's seconds are split into the pass (the
count and the one pass that draws every step's batch, on the Dask paths) and the rest
(encoding the gathered rows and training); peak memory is the driver's (Linux ``VmHWM``, reset
before the fit) and, on the cluster, each worker's largest resident memory.
"""

import math
import multiprocessing
import resource
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from _report import machine_description, markdown_table
from _synthetic import make_table, metadata, write_parquet

TEST_ROWS = 200_000
PATHS = ("memory", "parquet", "cluster")


def _memory_mb(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return math.nan


def _reset_peak_memory():
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _timed_pass(seconds, metadata_seconds):
    """Time the Dask count and pass of the fit path (``_base``'s names), adding to ``seconds``,
    and the passes of the DP metadata, adding to ``metadata_seconds``."""
    from sk_privattn import _base
    from sk_privattn.data import _dask_metadata

    def timed(function, into=seconds):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                into.append(time.perf_counter() - start)
        return run

    _base.count_partitioned, _base.draw_steps = timed(_base.count_partitioned), timed(_base.draw_steps)
    counts = _dask_metadata._PartitionedCounts
    counts.grid, counts.bins, counts.keys = (timed(counts.grid, metadata_seconds), timed(counts.bins, metadata_seconds),
                                             timed(counts.keys, metadata_seconds))


def _worker_peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _inputs(path, n_rows, folder):
    if path == "memory":
        return make_table(n_rows, seed=0)
    import dask.dataframe as dd

    table = dd.read_parquet(folder)
    return table.drop(columns="y"), table["y"]


def measure(path, n_rows, folder, options):
    """One fit in this process: seconds (pass, rest), peak memory, scores, ε."""
    from sklearn.metrics import roc_auc_score

    from sk_privattn import DPAttentionClassifier
    from sk_privattn.privacy import _plan

    if options["max_rows"]:
        _plan.AUTO_MAX_ROWS = options["max_rows"]
    pass_seconds, metadata_seconds = [], []
    _timed_pass(pass_seconds, metadata_seconds)
    X_test, y_test = make_table(TEST_ROWS, seed=1)
    X, y = _inputs(path, n_rows, folder)
    cluster = client = None
    if path == "cluster":
        import distributed

        cluster = distributed.LocalCluster(n_workers=options["workers"], threads_per_worker=1, processes=True,
                                           memory_limit=options["worker_memory"], dashboard_address=None)
        client = distributed.Client(cluster)
    given = metadata()
    if options.get("metadata", "dp") == "dp":  # the estimators' default: released with DP; the labels public
        given = {key: given[key] for key in ("categorical_features", "classes")}
    clf = DPAttentionClassifier(epsilon=options["epsilon"], random_state=0, **given)
    _reset_peak_memory()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    seconds = time.perf_counter() - start
    driver_mb = _memory_mb("VmHWM")
    workers_mb = max(client.run(_worker_peak_mb).values()) if client is not None else math.nan
    if client is not None:
        client.close()
        cluster.close()
    scores = clf.predict_proba(X_test)[:, 1]
    return {
        "path": path, "rows": n_rows, "plan": f"{clf.n_steps_:,} × {clf.batch_size_:,}", "seconds": seconds,
        "pass": sum(pass_seconds), "metadata": sum(metadata_seconds), "driver_mb": driver_mb, "workers_mb": workers_mb, "epsilon": clf.epsilon_,
        "accuracy": float(np.mean((scores > 0.5) == y_test)), "auc": roc_auc_score(y_test, scores),
    }


def _in_fresh_process(*args):
    # Not a multiprocessing.Pool: its daemonic workers cannot start a LocalCluster's worker processes.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as executor:
        return executor.submit(measure, *args).result()


def run(sizes, paths, data_dir, options):
    results = []
    for n_rows in sizes:
        folder = write_parquet(Path(data_dir) / f"synthetic-{n_rows}", n_rows) if set(paths) - {"memory"} else None
        for path in paths:
            if path == "memory" and n_rows > options["memory_max_rows"]:
                continue
            result = _in_fresh_process(path, n_rows, folder, options)
            results.append(result)
            print(f"{path}, {n_rows:,} rows: {result['seconds']:.0f} s (pass {result['pass']:.0f} s), driver peak "
                  f"{result['driver_mb']:,.0f} MiB, ROC AUC {result['auc']:.4f}", flush=True)
    return results


def report(results, command, options, note):
    def mb(value):
        return "-" if math.isnan(value) else f"{value:,.0f}"

    rows = [[r["path"], f"{r['rows']:,}", r["plan"], f"{r['seconds']:.0f}",
             f"{r['pass']:.0f}" if r["path"] != "memory" else "-",
             f"{r['metadata']:.0f}" if r["path"] != "memory" else "-",
             f"{r['seconds'] - r['pass'] - r['metadata']:.0f}",
             mb(r["driver_mb"]), mb(r["workers_mb"]), f"{r['accuracy']:.4f}", f"{r['auc']:.4f}",
             f"{r['epsilon']:.3f}"] for r in results]
    table = markdown_table(["path", "rows", "steps × batch", "fit seconds", "count and pass", "metadata passes",
                            "encode and train",
                            "driver peak MiB", "worker peak MiB", "test accuracy", "test ROC AUC", "ε spent"], rows)
    cap = f"`AUTO_MAX_ROWS` set to {options['max_rows']:,} for this run; " if options["max_rows"] else ""
    metadata_text = ("the schema's public bounds, categories and classes" if options.get("metadata") == "public" else
                     "the bounds and categories released with DP from all the rows (no metadata given; "
                     "the classes public)")
    return f"""## Scale: in memory, Parquet on one machine, and a Dask cluster

Command: `{command}`

Machine: {machine_description()}

{note}

Data: `benchmarks/_synthetic.py`, 20 numeric and 2 categorical columns with interactions, written as
uncompressed Parquet files of 1,000,000 rows. `DPAttentionClassifier` with its defaults ({cap}an "auto"
plan processes at most `AUTO_MAX_ROWS` rows), {metadata_text},
ε = {options['epsilon']:g}; scored on {TEST_ROWS:,} other rows. "memory": a pandas DataFrame;
"parquet": `dask.dataframe.read_parquet` on Dask's local scheduler; "cluster": the same through a
`distributed.LocalCluster` of {options['workers']} worker processes of one thread and
{options['worker_memory'] / 2**30:g} GiB each. "Metadata passes": the histograms of the DP metadata, summed over the
partitions (in memory they are part of "encode and train"). "Count and pass" is the count of the rows and the one
pass that draws every step's batch; "encode and train" the rest of the fit. Driver peak: the fitting
process's largest resident memory during the fit; worker peak: the largest of the workers'.

{table}
"""
