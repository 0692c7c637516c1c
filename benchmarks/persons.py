"""Person-level privacy on a real panel: the Muscatine children, three surveys each.

Data: ``$SK_PRIVATTN_DATA/muscatine/muscatine.csv.gz`` (4,856 children surveyed in 1977, 1979
and 1981; Woolson & Clarke 1984, from the R package geepack; read from the shared data folder,
not shipped). The target is obesity (`obese`), the features gender, age at the first survey,
age and the survey; the rows whose obesity was not measured are left out. Training and test
children are split 75 / 25 by child (seed 0), so that no child is on both sides.

Two parts, in one run:

1. **Accuracy.** ``DPAttentionClassifier`` at ε ∈ {1, 3, 8}, three seeds each: at person level
   (``fit(..., person_id=child)``: ε protects a child, all of their rows), at row level (ε
   protects one survey row; a child of k rows only by group privacy, up to about k·ε), and
   without privacy; InterpretML's DP-EBM (row level) at the same ε and δ; non-private
   logistic regression and gradient boosting. Accuracy and ROC AUC on the test children.
2. **What a row-level fit protects of a person.** A one-run audit (Steinke, Nasr & Jagielski
   2023) whose canaries are persons: each canary child has ``--canary-rows`` rows (real rows of
   test children, the label flipped, a survey value of their own), and one coin of the auditor
   adds or removes all of a canary's rows. Scored white-box, the canaries give a lower bound on
   the person-level ε, at the fit's δ and 95 % confidence: of the person-level fit (it must stay
   below its ε), of the row-level fit at the same ε (group privacy allows a child of k rows up
   to about k·ε there; the audit is a lower bound, far from tight for DP-SGD, and need not reach
   it), and of a fit without noise (ε = inf), which shows that the canaries can be found.

Prints the tables and writes them to docs/benchmarks.md (section "persons"). It reports; it
never asserts. Usage::

    SK_PRIVATTN_DATA=../shared/data python benchmarks/persons.py            # the full run
    SK_PRIVATTN_DATA=../shared/data python benchmarks/persons.py --quick    # 1 seed, ε = 1; does not write docs
"""

import argparse
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _baselines import fit_dp_ebm, non_private_baselines  # noqa: E402
from _report import command_line, machine_description, markdown_table, write_section  # noqa: E402

from sk_privattn import DPAttentionClassifier  # noqa: E402
from sk_privattn.audit import one_run_audit  # noqa: E402

#: Public metadata, from the study's description: children of 5 to 18, three surveys.
BOUNDS = {"base_age": (5, 15), "age": (5, 19)}
CATEGORIES = {"gender": ["F", "M"], "occasion": ["1", "2", "3"]}
CLASSES = [0, 1]
#: The documented number of children: public. δ = 1/(10 n) for the training children.
N_CHILDREN = 4856


def load_muscatine(data_dir):
    """The labelled rows: X (DataFrame), y (0/1), and the child of each row."""
    frame = pd.read_csv(Path(data_dir) / "muscatine" / "muscatine.csv.gz")
    frame = frame[frame["obese"].isin(["yes", "no"])].reset_index(drop=True)
    X = pd.DataFrame({
        "gender": pd.Categorical(frame["gender"], categories=CATEGORIES["gender"]),
        "base_age": frame["base_age"].astype(float),
        "age": frame["age"].astype(float),
        "occasion": pd.Categorical(frame["occasion"].astype(str), categories=CATEGORIES["occasion"]),
    })
    return X, (frame["obese"] == "yes").to_numpy().astype(int), frame["id"].to_numpy()


def split_by_child(X, y, child, seed=0):
    children = np.unique(child)
    test_children = np.random.default_rng(seed).choice(children, len(children) // 4, replace=False)
    test = np.isin(child, test_children)
    return (X[~test].reset_index(drop=True), y[~test], child[~test]), (X[test].reset_index(drop=True), y[test],
                                                                        child[test])


def _scores(model, X, y):
    proba = model.predict_proba(X)[:, 1]
    return float(np.mean((proba > 0.5) == y)), float(roc_auc_score(y, proba))


def accuracy_rows(train, test, epsilons, seeds, delta):
    X, y, child = train
    X_test, y_test, _ = test
    public = dict(bounds=BOUNDS, categories=CATEGORIES, classes=CLASSES)
    rows = []

    def record(model_name, unit, epsilon, fit):
        accuracy, auc, seconds, spent = [], [], [], []
        for seed in seeds:
            start = time.perf_counter()
            model, epsilon_spent = fit(seed)
            seconds.append(time.perf_counter() - start)
            a, r = _scores(model, X_test, y_test)
            accuracy.append(a)
            auc.append(r)
            spent.append(epsilon_spent)
            print(f"{model_name} [{unit}] ε={epsilon:g} seed={seed}: accuracy {a:.4f}, ROC AUC {r:.4f}, "
                  f"{seconds[-1]:.1f} s", flush=True)
        rows.append((model_name, unit, epsilon, max(spent), accuracy, auc, seconds))

    for epsilon in epsilons:
        for unit in ("person", "row"):
            def fit(seed, unit=unit, epsilon=epsilon):
                clf = DPAttentionClassifier(epsilon=epsilon, delta=delta, random_state=seed, **public)
                clf.fit(X, y, **({"person_id": child} if unit == "person" else {}))
                return clf, clf.epsilon_
            record("DPAttentionClassifier (defaults)", unit, epsilon, fit)

        def ebm(seed, epsilon=epsilon):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Privacy violation: using a fixed random_state")
                model = fit_dp_ebm(X, y, epsilon=epsilon, delta=delta, bounds=BOUNDS, categories=CATEGORIES,
                                   random_state=seed)
            return model, epsilon
        record("DP-EBM (InterpretML)", "row", epsilon, ebm)

    def no_privacy(seed):
        clf = DPAttentionClassifier(epsilon=math.inf, random_state=seed, **public).fit(X, y)
        return clf, math.inf
    record("DPAttentionClassifier (defaults)", "no privacy", math.inf, no_privacy)
    for name, model in non_private_baselines().items():
        record(f"{name} (non-private)", "no privacy", math.inf, lambda seed, model=model: (model.fit(X, y), math.inf))
    return rows


def person_canaries(test, n_canaries, rows_per_canary, seed=0):
    """Canary children: each a block of real test rows with the label flipped and a survey value of their own."""
    X_test, y_test, _ = test
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(y_test), n_canaries * rows_per_canary, replace=len(y_test) < n_canaries * rows_per_canary)
    own = [f"canary-{index}" for index in range(n_canaries)]
    person = np.repeat(np.arange(n_canaries), rows_per_canary)
    categories = {**CATEGORIES, "occasion": [*CATEGORIES["occasion"], *own]}
    X = X_test.iloc[picked].reset_index(drop=True).assign(
        occasion=pd.Categorical(np.asarray(own, dtype=object)[person], categories=categories["occasion"]))
    return X, 1 - y_test[picked], person, categories


def audit_rows(train, test, epsilons, n_canaries, rows_per_canary, delta, max_epochs):
    X, y, child = train
    X_canary, y_canary, canary_person, categories = person_canaries(test, n_canaries, rows_per_canary)
    X = X.assign(occasion=pd.Categorical(X["occasion"].astype(str), categories=categories["occasion"]))
    rows = []
    for epsilon in epsilons:
        for unit in ("person", "row"):
            estimator = DPAttentionClassifier(epsilon=epsilon, delta=delta, bounds=BOUNDS, categories=categories,
                                              classes=CLASSES, random_state=0, max_epochs=max_epochs)
            start = time.perf_counter()
            result = one_run_audit(estimator, X, y, X_canary, y_canary, mode="white-box",
                                   n_guesses=n_canaries // 2, canary_person_id=canary_person,
                                   person_id=child if unit == "person" else None, random_state=1)
            seconds = time.perf_counter() - start
            print(f"audit [{unit}] ε={epsilon:g}: {result}, {seconds:.0f} s", flush=True)
            rows.append((unit, epsilon, result, seconds))
    return rows


def _mean_sd(values):
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.4f}"


UNIT_LABELS = {
    "person": "a child (person level)",
    "row": "one survey row (row level)",
    "no privacy": "–",
}


def report(train, test, accuracy, audits, delta, n_canaries, rows_per_canary, max_epochs, command):
    table = markdown_table(
        ["model", "ε protects", "ε", "ε spent (max)", "test accuracy (mean ± sd)", "test ROC AUC (mean ± sd)",
         "fit s (mean)"],
        [(model, UNIT_LABELS[unit], "inf" if math.isinf(epsilon) else f"{epsilon:g}",
          "inf" if math.isinf(spent) else f"{spent:.3f}", _mean_sd(acc), _mean_sd(auc), f"{np.mean(sec):.1f}")
         for model, unit, epsilon, spent, acc, auc, sec in accuracy],
    )
    audit_table = markdown_table(
        ["fit", "claimed ε (per its unit)", "right guesses", "**empirical person-level ε ≥**", "seconds"],
        [(UNIT_LABELS[unit], f"{result.estimator.epsilon_:.3f}", f"{result.n_correct} / {result.n_guesses}",
          f"**{result.epsilon_lower_bound:.2f}**", f"{seconds:.0f}") for unit, epsilon, result, seconds in audits],
    )
    n_train, n_test = len(train[1]), len(test[1])
    return f"""## Person-level privacy: the Muscatine panel (three surveys per child)

Command: `{command}`

Machine: {machine_description()}

Data: the Muscatine Coronary Risk Factor Study (Woolson & Clarke 1984; `muscatine` in the R
package geepack), obesity of school children in 1977, 1979 and 1981, from the shared data folder:
{n_train:,} training rows of {len(np.unique(train[2])):,} children and {n_test:,} test rows of
{len(np.unique(test[2])):,} other children (75 / 25 by child, seed 0); 1 to 3 labelled rows per
child. Features: gender, age at the first survey, age, survey; target: obese. Public metadata
from the study's description (ages 5 to 19, three surveys, the two genders). δ = {delta:.3g}
(1/(10 n) for the documented 4,856 children, three quarters of them in training) for every DP
model. DP-EBM is row level: its ε protects one row, as does ours without `person_id`.

{table}

One-run audit with canary children: {n_canaries} canaries of {rows_per_canary} rows each (real
rows of test children, the label flipped, a survey value of their own), each added with all
of its rows or left out by one coin; white-box scores (each canary's summed gradient against how
far training moved the weights), guesses on the surest half; the person-level ε lower bound at
the fit's δ, 95 % confidence. The audited fits train {max_epochs} epochs. A person-level fit must
stay below its ε. The row-level fits' bounds are lower bounds on what they leak of a child: group
privacy allows a child of k rows up to about k·ε there, and a one-run audit, far from tight for
DP-SGD, need not reach it. Without noise (ε = inf) the same canaries are found: the audit has the
power to see a child that the fit does not hide.

{audit_table}
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--canaries", type=int, default=500)
    parser.add_argument("--canary-rows", type=int, default=10)
    parser.add_argument("--audit-epochs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="1 seed, ε = 1, 100 canaries; does not write docs")
    args = parser.parse_args(argv)
    data_dir = os.environ.get("SK_PRIVATTN_DATA")
    if not data_dir:
        parser.error("set SK_PRIVATTN_DATA to the shared data folder (it holds muscatine/)")
    X, y, child = load_muscatine(data_dir)
    train, test = split_by_child(X, y, child)
    delta = 1 / (10 * round(N_CHILDREN * 0.75))
    epsilons, seeds = ([1.0], [0]) if args.quick else ([1.0, 3.0, 8.0], list(range(args.seeds)))
    n_canaries = 100 if args.quick else args.canaries
    accuracy = accuracy_rows(train, test, epsilons, seeds, delta)
    audits = audit_rows(train, test, [1.0, math.inf] if args.quick else [1.0, 8.0, math.inf], n_canaries, args.canary_rows, delta,
                        args.audit_epochs)
    command = command_line("persons.py", *(["--quick"] if args.quick else []))
    text = report(train, test, accuracy, audits, delta, n_canaries, args.canary_rows, args.audit_epochs,
                  "SK_PRIVATTN_DATA=../shared/data " + command)
    print("\n" + text)
    if not args.quick:
        print(f"written to {write_section('persons', text)}")


if __name__ == "__main__":
    main()
