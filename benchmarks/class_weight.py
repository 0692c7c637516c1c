"""Benchmark: class weights for the minority class of UCI Adult (income > 50K, 24 %) at ε = 1.

In one run, on the official Adult train/test split (shipped with the package), the default
``DPAttentionClassifier`` at ε = 1 with:

- ``class_weight=None``;
- ``class_weight="balanced"``, which reads the class counts from the training data
  (a ``PrivacyLeakWarning``);
- ``class_weight`` as a dict computed like "balanced" but from the class frequencies that the
  dataset's documentation publishes (``adult.names``: 23.93 % ">50K"), which leaks nothing;

and, to show what clipping does to the weights, the same network at ε = inf (no clipping, no
noise) without and with "balanced" weights.

Reports balanced accuracy (the mean of the two classes' recalls), the recall of ">50K",
accuracy and ROC AUC on the test set. It does not report how many training rows of each class
DP-SGD clipped: that count is an un-noised statistic of the private rows. Prints a table and
writes it to docs/benchmarks.md (section "class_weight"). It reports; it never asserts.
Usage::

    python benchmarks/class_weight.py    # 3 seeds, about 2 minutes on 2 cores
    python benchmarks/class_weight.py --seeds 1
"""

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, recall_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import command_line, machine_description, markdown_table, write_section  # noqa: E402

from sk_privattn import DPAttentionClassifier, PrivacyLeakWarning  # noqa: E402
from sk_privattn.datasets import load_adult  # noqa: E402

#: P(income > 50K) in adult.all, as published in adult.names.
PUBLISHED_POSITIVE_RATE = 0.2393

#: "balanced" weights, n / (n_classes * count), from the published frequencies.
PUBLIC_WEIGHTS = {0: 0.5 / (1 - PUBLISHED_POSITIVE_RATE), 1: 0.5 / PUBLISHED_POSITIVE_RATE}

BALANCED = '"balanced" (class counts read from the data: PrivacyLeakWarning)'
PUBLIC = "dict from the published frequencies {0: %.3f, 1: %.3f} (no leak)" % (PUBLIC_WEIGHTS[0], PUBLIC_WEIGHTS[1])

#: (label, ε, class_weight)
VARIANTS = [
    ("None", 1.0, None),
    (BALANCED, 1.0, "balanced"),
    (PUBLIC, 1.0, PUBLIC_WEIGHTS),
    ("None", math.inf, None),
    (BALANCED, math.inf, "balanced"),
]

def _mean_sd(values):
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.4f}"


def run(seeds):
    train = load_adult(subset="train", as_frame=True)
    test = load_adult(subset="test", as_frame=True)
    rows = []
    for label, epsilon, class_weight in VARIANTS:
        scores = {"balanced accuracy": [], "recall of >50K": [], "accuracy": [], "ROC AUC": [], "ε spent": [],
                  "seconds": []}
        for seed in seeds:
            clf = DPAttentionClassifier(epsilon=epsilon, class_weight=class_weight, bounds=train.bounds,
                                        categories=train.categories, classes=train.classes,
                                        random_state=seed)
            start = time.perf_counter()
            with warnings.catch_warnings():
                # Expected for "balanced", and said in the table.
                warnings.simplefilter("ignore", PrivacyLeakWarning)
                clf.fit(train.data, train.target)
            scores["seconds"].append(time.perf_counter() - start)
            predicted = clf.predict(test.data)
            scores["balanced accuracy"].append(balanced_accuracy_score(test.target, predicted))
            scores["recall of >50K"].append(recall_score(test.target, predicted))
            scores["accuracy"].append(accuracy_score(test.target, predicted))
            scores["ROC AUC"].append(roc_auc_score(test.target, clf.predict_proba(test.data)[:, 1]))
            scores["ε spent"].append(clf.epsilon_)
            print(f"ε={epsilon:g} class_weight={class_weight!r} seed={seed}: "
                  + ", ".join(f"{name} {values[-1]:.4f}" for name, values in scores.items()), flush=True)
        rows.append((label, epsilon, scores))
    return rows, len(train.data), len(test.data)


def report(rows, n_train, n_test, n_seeds, command):
    table = markdown_table(
        ["class_weight", "ε asked", "balanced accuracy", "recall of >50K", "accuracy", "ROC AUC", "ε spent (max)",
         "fit seconds (mean)"],
        [
            (label, "inf" if math.isinf(epsilon) else f"{epsilon:g}", _mean_sd(s["balanced accuracy"]),
             _mean_sd(s["recall of >50K"]), _mean_sd(s["accuracy"]), _mean_sd(s["ROC AUC"]),
             "inf" if math.isinf(epsilon) else f"{max(s['ε spent']):.3f}", f"{np.mean(s['seconds']):.1f}")
            for label, epsilon, s in rows
        ],
    )
    return f"""## Class weights on UCI Adult at ε = 1

Command: `{command}`

Machine: {machine_description()}

Data: the official split, {n_train:,} training and {n_test:,} test rows; the minority class
">50K" is 24 % of the rows. `DPAttentionClassifier` with its defaults, the public bounds and
categories of `load_adult`, and {n_seeds} seed(s) per row (mean ± sd). Balanced accuracy is the
mean of the recalls of the two classes, on the test set.

{table}

DP-SGD multiplies each row's *clipped* gradient by its class weight divided by the largest
class weight, so a weight acts on every row, clipped or not, and no row contributes more than
`max_grad_norm`: the sensitivity, and so ε, are unchanged. The ε = inf rows show the same
weights without clipping or noise (they multiply the rows' losses). The published-frequency
dict gives "balanced"-like weights without reading the training labels. The share of rows
that clipping touched, per class, is not reported: it is an un-noised statistic of the
training rows.
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    command = command_line("class_weight.py", *([f"--seeds {args.seeds}"] if args.seeds != 3 else []))
    rows, n_train, n_test = run(list(range(args.seeds)))
    text = report(rows, n_train, n_test, args.seeds, command)
    print("\n" + text)
    print(f"written to {write_section('class_weight', text)}")


if __name__ == "__main__":
    main()
