"""Scale: DPAttentionClassifier on a synthetic census table of 200,000 and 1,000,000 rows.

The table (``_census.py``) has 40 columns: 16 numeric, some missing, and 24 categorical of 2
to 3,000 categories, with a learnable target ("high income", a quarter positive). Every
model gets the public bounds and category lists of its schema. Each fit runs in a fresh
process, so that its peak memory is its own: the data are drawn first, then the peak
resident memory is reset and measured over the fit alone. A test table of other rows from
the same population gives the accuracy and the ROC AUC.

Prints a table and writes it to docs/benchmarks.md (section "scale"). It reports; it never
asserts. Usage::

    python benchmarks/scale.py                 # defaults at ε = 1 on 200k and 1M rows, and the
                                               # baselines on 200k rows (about 30 minutes on 2 cores)
    python benchmarks/scale.py --quick         # 20k and 100k rows, 1 epoch; does not write docs
    python benchmarks/scale.py --rows 200000 --max-epochs 1 2 5 10 --no-baselines --section scale_epochs
                                               # accuracy against the number of steps
    python benchmarks/scale.py --paths memory parquet cluster --sizes 1000000 10000000 100000000
                                               # the synthetic table of _synthetic.py in memory, as Parquet
                                               # on one machine and on a 2-worker LocalCluster (section
                                               # "scale_paths"; see _scale_paths.py)
"""

import argparse
import math
import multiprocessing
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _scale_paths  # noqa: E402
from _census import CATEGORICAL, NUMERIC, census_metadata, make_census  # noqa: E402
from _report import command_line, machine_description, markdown_table, write_section  # noqa: E402

TEST_ROWS = 100_000


def _memory_mb(key):
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return math.nan


def _reset_peak_memory():
    """Make ``VmHWM`` start again from the current resident memory (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _with_codes(X):
    """HistGradientBoosting takes categorical columns of at most 255 categories; the larger
    ones go in as their (ordinal) codes."""
    X = X.copy()
    for name, size in CATEGORICAL.items():
        if size > 255:
            X[name] = X[name].cat.codes.astype(float).replace(-1, np.nan)
    return X


def _fit_model(model, X, y, metadata, options):
    """Fit ``model`` on ``X, y``; return the fitted object, a predict_proba and the settings."""
    if model == "DPAttentionClassifier":
        from sk_privattn import DPAttentionClassifier

        from sk_privattn.privacy import default_delta

        # δ = 1/(10 n) for the table's size, set by the benchmark (public), as DP-EBM's below.
        clf = DPAttentionClassifier(
            epsilon=options["epsilon"], delta=default_delta(len(X)), classes=[0, 1], random_state=0, **metadata,
            **options["params"]
        )
        clf.fit(X, y)
        settings = f"{clf.n_steps_:,} steps of {clf.batch_size_:,} rows ({len(clf.history_)} epochs)"
        return clf, clf.predict_proba, settings, clf.epsilon_
    if model == "DP-EBM":
        from _baselines import fit_dp_ebm
        from sk_privattn.privacy import default_delta

        ebm = fit_dp_ebm(X, y, epsilon=options["epsilon"], delta=default_delta(len(X)), random_state=0, **metadata)
        return ebm, ebm.predict_proba, "defaults", options["epsilon"]
    from sklearn.ensemble import HistGradientBoostingClassifier

    hgb = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0).fit(_with_codes(X), y)
    return hgb, lambda X: hgb.predict_proba(_with_codes(X)), "defaults (non-private)", math.inf


def measure(model, n_rows, options):
    """One fit in this process: seconds, peak memory over the fit, and test scores."""
    from sklearn.metrics import roc_auc_score

    X, y = make_census(n_rows, seed=0)
    X_test, y_test = make_census(options["test_rows"], seed=1)
    data_mb = X.memory_usage(deep=True).sum() / 2**20
    before_mb = _memory_mb("VmRSS")
    peak_is_the_fits = _reset_peak_memory()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted, predict_proba, settings, epsilon = _fit_model(model, X, y, census_metadata(), options)
    seconds = time.perf_counter() - start
    peak_mb = _memory_mb("VmHWM")
    start = time.perf_counter()
    scores = predict_proba(X_test)[:, 1]
    predict_seconds = time.perf_counter() - start
    return {
        "model": model,
        "rows": n_rows,
        "settings": settings,
        "epsilon": epsilon,
        "seconds": seconds,
        "data_mb": data_mb,
        "before_mb": before_mb,
        "peak_mb": peak_mb if peak_is_the_fits else math.nan,
        "accuracy": float(np.mean((scores > 0.5) == y_test)),
        "auc": roc_auc_score(y_test, scores),
        "predict_rows_per_second": len(X_test) / predict_seconds,
    }


def _in_fresh_process(model, n_rows, options):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, (model, n_rows, options))


def run(rows, epochs, batch_size, baseline_rows, epsilon, test_rows):
    results = []
    options = dict(epsilon=epsilon, test_rows=test_rows)
    for n_rows in rows:
        for max_epochs in epochs:
            params = {}
            if max_epochs is not None:
                params["max_epochs"] = max_epochs
            if batch_size is not None:
                params["batch_size"] = batch_size
            result = _in_fresh_process("DPAttentionClassifier", n_rows, {**options, "params": params})
            results.append(result)
            print(f"DPAttentionClassifier, {n_rows:,} rows, {result['settings']}: {result['seconds']:.0f} s, "
                  f"peak {result['peak_mb']:.0f} MiB, ROC AUC {result['auc']:.4f}", flush=True)
    for model in ("HistGradientBoosting", "DP-EBM") if baseline_rows else ():
        result = _in_fresh_process(model, baseline_rows, options)
        results.append(result)
        print(f"{model}, {baseline_rows:,} rows: {result['seconds']:.0f} s, ROC AUC {result['auc']:.4f}", flush=True)
    return results


def report(results, epsilon, test_rows, command):
    rows = [
        (r["model"], f"{r['rows']:,}", r["settings"], "inf" if math.isinf(r["epsilon"]) else f"{r['epsilon']:.3f}",
         f"{r['seconds']:.0f}", f"{r['data_mb']:.0f}", f"{r['before_mb']:.0f}", f"{r['peak_mb']:.0f}",
         f"{r['peak_mb'] - r['before_mb']:.0f}", f"{r['accuracy']:.4f}", f"{r['auc']:.4f}",
         f"{r['predict_rows_per_second']:,.0f}")
        for r in results
    ]
    table = markdown_table(
        ["model", "training rows", "settings", "ε spent", "fit seconds", "DataFrame MiB", "process MiB before fit",
         "peak MiB during fit", "peak − before", "test accuracy", "test ROC AUC", "predict rows/s"],
        rows,
    )
    return f"""## Scale: a synthetic census table of up to 1,000,000 rows

Command: `{command}`

Machine: {machine_description()}

Data: `benchmarks/_census.py`, {len(NUMERIC)} numeric columns (some missing) and {len(CATEGORICAL)} categorical
ones of 2 to {max(CATEGORICAL.values()):,} categories; a learnable binary target, a quarter positive.
Every model gets the public bounds and category lists of the schema (no `PrivacyLeakWarning`;
DP-EBM fills a missing value with a public one). Test: {test_rows:,} other rows of the same population.
`DPAttentionClassifier` at ε = {epsilon:g} with its defaults unless the settings say otherwise.

Each fit runs in a fresh process. "Process MiB before fit" is its resident memory once the
data are drawn (Python, torch and the tables); "peak MiB during fit" is the largest resident
memory during the fit alone (Linux `VmHWM`, reset before the fit); "peak − before" is what the
fit adds: the encoded copy of the data, which grows with the rows, and working memory that
does not (a large DataFrame is validated and encoded a chunk of rows at a time, and each step
samples its batch; see [large tables](performance.md#large-tables)).

{table}
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k and 100k rows, 1 epoch; does not write docs")
    parser.add_argument("--rows", type=int, nargs="*", default=[200_000, 1_000_000], help="none: the baselines only")
    parser.add_argument("--max-epochs", type=int, nargs="+", default=None, help="estimator default when not given")
    parser.add_argument("--batch-size", type=int, default=None, help="estimator default when not given")
    parser.add_argument("--baseline-rows", type=int, default=200_000)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--section", default="scale", help="the section of docs/benchmarks.md to write")
    parser.add_argument("--no-docs", action="store_true", help="print the table only")
    paths = parser.add_argument_group("the paths (in memory, Parquet, a Dask cluster) on _synthetic.py's table")
    paths.add_argument("--paths", nargs="+", choices=_scale_paths.PATHS, default=None)
    paths.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000, 100_000_000])
    paths.add_argument("--data-dir", default="/tmp/sk_privattn_scale", help="where the Parquet files are written")
    paths.add_argument("--memory-max-rows", type=int, default=20_000_000, help="larger sizes skip the memory path")
    paths.add_argument("--workers", type=int, default=2)
    paths.add_argument("--worker-memory", type=float, default=4.0, help="GiB per worker")
    paths.add_argument("--max-rows", type=int, default=None,
                       help="AUTO_MAX_ROWS for this run (a quick check on a loaded machine)")
    paths.add_argument("--metadata", choices=["dp", "public"], default="dp",
                       help="dp: bounds and categories released with DP (the default of the estimators); "
                            "public: the schema's public bounds and categories")
    paths.add_argument("--note", default="", help="a line above the table (the machine's load, for example)")
    args = parser.parse_args(argv)
    arguments = [a for a in (argv if argv is not None else sys.argv[1:])]
    command = command_line("scale.py", *arguments)
    if args.paths:
        return _run_paths(args, command)
    if args.quick:
        args.rows, args.max_epochs, args.baseline_rows = [20_000, 100_000], [1], 20_000
    test_rows = 20_000 if args.quick else TEST_ROWS
    results = run(
        args.rows,
        args.max_epochs or [None],
        args.batch_size,
        None if args.no_baselines else args.baseline_rows,
        args.epsilon,
        test_rows,
    )
    text = report(results, args.epsilon, test_rows, command)
    print("\n" + text)
    if not (args.quick or args.no_docs):
        print(f"written to {write_section(args.section, text)}")


def _run_paths(args, command):
    options = dict(epsilon=args.epsilon, workers=args.workers, worker_memory=int(args.worker_memory * 2**30),
                   max_rows=args.max_rows, memory_max_rows=args.memory_max_rows, metadata=args.metadata)
    results = _scale_paths.run(args.sizes, args.paths, args.data_dir, options)
    text = _scale_paths.report(results, command, options, args.note)
    print("\n" + text)
    if not args.no_docs:
        print(f"written to {write_section('scale_paths', text)}")


if __name__ == "__main__":
    main()
