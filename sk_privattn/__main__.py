"""``python -m sk_privattn``: private vs. non-private fits on UCI Adult.

Fits the default :class:`~sk_privattn.DPAttentionClassifier` on the Adult
training set at several ε and once without privacy, then prints a table of
ε asked, ε spent, test accuracy and fit seconds. The data ship with the
package. By default the fits are given no metadata: they release the bounds,
categories and classes with DP, from the same budget, so nothing leaks
outside the accounted ε; ``--public-metadata`` passes those of the dataset's
documentation instead, which cost nothing.
"""

import argparse
import math
import sys
import time

import numpy as np

from . import DPAttentionClassifier, __version__
from .datasets import load_adult

QUICK_ROWS = 6000


def _epsilon(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"epsilon must be > 0 or 'inf', got {text!r}")
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m sk_privattn",
        description=(
            "Fit DPAttentionClassifier on UCI Adult (shipped with the package) at several "
            "privacy budgets and once without privacy; print ε asked, ε spent, test "
            "accuracy and fit time."
        ),
    )
    parser.add_argument(
        "--epsilons",
        type=_epsilon,
        nargs="+",
        default=[1.0, 8.0],
        metavar="EPS",
        help="privacy budgets to fit (default: 1 8); a non-private fit (inf) is always added",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="max_epochs of every fit (default: the estimator's)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run on {QUICK_ROWS} training rows (the batch size adapts to them)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random_state of every fit (default: 0)")
    parser.add_argument(
        "--public-metadata",
        action="store_true",
        help="pass the public bounds, categories and classes of the dataset's documentation (default: none, "
        "released with DP)",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress, only the table")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    train = load_adult(subset="train", as_frame=True)
    test = load_adult(subset="test", as_frame=True)
    X, y = train.data, train.target
    if args.quick:
        rows = np.random.RandomState(args.seed).permutation(len(X))[:QUICK_ROWS]
        X, y = X.iloc[rows], y.iloc[rows]
    epsilons = sorted(set(args.epsilons) - {math.inf}) + [math.inf]
    print(
        f"sk_privattn {__version__}: UCI Adult, {len(X):,} training rows, {len(test.data):,} test rows"
        f"{' (--quick)' if args.quick else ''}. "
        + ("Public bounds, categories and classes from the dataset's documentation." if args.public_metadata
           else "No metadata given: the bounds, categories and classes are released with DP."),
        flush=True,
    )
    public = dict(bounds=train.bounds, categories=train.categories, classes=train.classes)
    rows = []
    for index, epsilon in enumerate(epsilons, start=1):
        params = dict(epsilon=epsilon, random_state=args.seed, **(public if args.public_metadata else {}))
        if args.epochs is not None:
            params["max_epochs"] = args.epochs
        clf = DPAttentionClassifier(**params, verbose=0 if args.quiet else 1)
        label = "non-private (inf)" if math.isinf(epsilon) else f"epsilon={epsilon:g}"
        print(f"\n[{index}/{len(epsilons)}] fitting {label}", flush=True)
        start = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - start
        rows.append((epsilon, clf.epsilon_, clf.delta_, clf.count_, clf.score(test.data, test.target), seconds))
    print()
    print("ε is for adding or removing one row (neighbouring='add_or_remove', the default); it includes the")
    print("2 % spent on the DP count of the rows that each private fit's plan reads"
          + ("." if args.public_metadata else ", and the DP release of the metadata."))
    print(f"{'ε asked':>9} {'ε spent':>9} {'δ':>9} {'rows counted':>13} {'test accuracy':>14} {'fit seconds':>12}")
    for asked, spent, delta, count, accuracy, seconds in rows:
        print(f"{asked:>9g} {spent:>9.3f} {delta:>9.2g} {count:>13,} {accuracy:>14.4f} {seconds:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
