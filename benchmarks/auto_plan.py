"""The "auto" plan above a million rows: the cap on the rows processed, and the batch, against
the plan before the cap (one epoch whatever n), on the synthetic table of ``_synthetic.py``.

Each fit runs in a fresh process on the first n rows of the table of seed 0, at ε = 1, with
the schema's public metadata, and is scored on 200,000 rows of seed 1. The plans:

- ``auto``: the defaults (``max_epochs="auto"``, ``batch_size="auto"``): above
  ``AUTO_MAX_ROWS`` rows, that many rows processed, less than one epoch;
- ``uncapped``: the "auto" rule before the cap, one epoch at least (``max_epochs=1`` above
  about 550,000 rows): n rows processed;
- ``batch4096``: the cap's rows in batches of 4,096 (a quarter of the steps);
- ``rows2x``: twice the cap's rows (``max_epochs="auto"`` with ``AUTO_MAX_ROWS`` doubled).

Prints a table and writes it to docs/benchmarks.md (section "auto_plan"). It reports; it
never asserts. Usage::

    python benchmarks/auto_plan.py --sizes 1000000 10000000 --plans auto uncapped batch4096 rows2x
    python benchmarks/auto_plan.py --runs 1000000:auto 10000000:auto 10000000:batch4096   # chosen pairs
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

from _report import command_line, machine_description, markdown_table, write_section  # noqa: E402
from _synthetic import make_table, metadata  # noqa: E402

TEST_ROWS = 200_000
PLANS = ("auto", "uncapped", "batch4096", "rows2x")


def _params(plan, n_rows):
    from sk_privattn.privacy import _plan

    if plan == "uncapped":
        steps_per_pass = math.ceil(n_rows / _plan.resolve_batch_size("auto", n_rows))
        return {"max_epochs": int(min(_plan.MAX_AUTO_EPOCHS, max(1, round(_plan.AUTO_STEPS / steps_per_pass))))}
    if plan == "batch4096":
        return {"batch_size": 4096}
    if plan == "rows2x":
        _plan.AUTO_MAX_ROWS *= 2
    return {}


def measure(plan, n_rows, epsilon):
    """One fit in this process: its plan, seconds and test scores."""
    from sklearn.metrics import roc_auc_score

    from sk_privattn import DPAttentionClassifier

    X, y = make_table(n_rows, seed=0)
    X_test, y_test = make_table(TEST_ROWS, seed=1)
    clf = DPAttentionClassifier(epsilon=epsilon, random_state=0, **metadata(), **_params(plan, n_rows))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    seconds = time.perf_counter() - start
    scores = clf.predict_proba(X_test)[:, 1]
    return {
        "plan": plan, "rows": n_rows, "steps": clf.n_steps_, "batch": clf.batch_size_,
        "processed": clf.n_steps_ * clf.sample_rate_ * clf.count_, "noise": clf.noise_multiplier_,
        "epsilon": clf.epsilon_, "seconds": seconds, "accuracy": float(np.mean((scores > 0.5) == y_test)),
        "auc": roc_auc_score(y_test, scores),
    }


def _in_fresh_process(plan, n_rows, epsilon):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, (plan, n_rows, epsilon))


def report(results, command, note):
    rows = [[f"{r['rows']:,}", r["plan"], f"{r['steps']:,} × {r['batch']:,}", f"{r['processed'] / 1e6:.2f}M",
             f"{r['noise']:.3f}", f"{r['epsilon']:.3f}", f"{r['accuracy']:.4f}", f"{r['auc']:.4f}",
             f"{r['seconds']:.0f}"] for r in results]
    table = markdown_table(["rows", "plan", "steps × batch", "rows processed", "noise multiplier", "ε spent",
                            "test accuracy", "test ROC AUC", "fit seconds"], rows)
    return "\n".join([
        "## The \"auto\" plan above a million rows",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine_description()}",
        "",
        note,
        "",
        "The synthetic table of `benchmarks/_synthetic.py` (20 numeric and 2 categorical columns, "
        "interactions), ε = 1 (add-or-remove, DP count), seed 0, public metadata; "
        f"test scores on {TEST_ROWS:,} other rows of the same population. One seed per row.",
        "",
        table,
        "",
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--plans", nargs="+", choices=PLANS, default=list(PLANS))
    parser.add_argument("--runs", nargs="+", default=None, metavar="ROWS:PLAN",
                        help="chosen (rows, plan) pairs instead of every size with every plan")
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--note", default="", help="a line above the table (for example, the machine's load)")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    runs = ([(int(rows), plan) for rows, plan in (run.split(":") for run in args.runs)] if args.runs
            else [(n_rows, plan) for n_rows in args.sizes for plan in args.plans])
    results = []
    for n_rows, plan in runs:
        result = _in_fresh_process(plan, n_rows, args.epsilon)
        results.append(result)
        print(result, flush=True)
    section = report(results, command_line("auto_plan.py", *sys.argv[1:]), args.note)
    print(section)
    if not args.no_write:
        write_section("auto_plan", section)


if __name__ == "__main__":
    main()
