"""Benchmark of federated training on UCI Adult split into 5 non-IID sites.

The training rows are split by ``race`` (5 values, very unequal: about 85% of
the rows are "White", a few hundred "Other" or "Amer-Indian-Eskimo"), so the
sites differ in size and in their label and feature distributions. At each ε,
it compares

- (a) ``FederatedDPAttentionClassifier``, record-level DP, the 5 sites federated;
- (b) one central ``DPAttentionClassifier`` on the pooled rows (the upper bound);
- (c) each site alone with its own ``DPAttentionClassifier`` (the status quo).

Every model gets the public bounds and categories of ``load_adult`` and the same
epochs over each row (``--rounds`` rounds of one local epoch for (a),
``--rounds`` epochs for (b) and (c)), with δ = 1/(10 n) of the rows it
protects for (b) and (c) (the sizes of the split are public here), and the
default δ of each site for (a) (1e-5: each site counts its rows with DP). Accuracy is on the official test split: on all of it, and on each
site's own test rows (same ``race``), mean and worst over the sites. "Rounds
to within 1 point of (b)" follows the test accuracy of the federated model
after each round (each round's global model is DP too, by post-processing).
The federation runs with ``backend="in-process"`` (the Flower apps without
Ray), one site after the other. Prints a table and writes it to
docs/benchmarks.md (section "federated"). Usage::

    python benchmarks/federated.py             # the full run
    python benchmarks/federated.py --quick     # 5,000 training rows, 3 rounds, ε=1; does not write docs
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import adult_split  # noqa: E402
from _report import command_line, machine_description, markdown_table, write_section  # noqa: E402

import sk_privattn.federated._estimator as federated_estimator  # noqa: E402
from sk_privattn import DPAttentionClassifier  # noqa: E402
from sk_privattn.privacy import default_delta  # noqa: E402
from sk_privattn.federated import FederatedDPAttentionClassifier  # noqa: E402
from sk_privattn.federated._site import set_arrays  # noqa: E402


def _timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def _per_site_accuracy(predict, test, test_sites, sites):
    return {site: float(np.mean(predict(test.data[test_sites == site]) == test.target[test_sites == site]))
            for site in sites}


def _fit_federated_following_rounds(clf, X, y, groups):
    """Fit ``clf`` and keep the global model of every round (through the strategy's on_round)."""
    kept = []
    make_strategy = federated_estimator.make_strategy

    def keeping(*args, **kwargs):
        strategy = make_strategy(*args, **kwargs)
        strategy.on_round = lambda server_round, arrays: kept.append([a.copy() for a in arrays])
        return strategy

    federated_estimator.make_strategy = keeping
    try:
        clf.fit(X, y, groups=groups)
    finally:
        federated_estimator.make_strategy = make_strategy
    return kept


def run(epsilons, n_rounds, n_rows=None):
    train, X, y, test = adult_split(n_rows)
    groups = X["race"].astype(str).to_numpy()
    test_sites = test.data["race"].astype(str).to_numpy()
    sites = sorted(np.unique(groups).tolist(), key=lambda s: -np.sum(groups == s))
    site_rows = {site: int(np.sum(groups == site)) for site in sites}
    public = dict(bounds=train.bounds, categories=train.categories, classes=train.classes)
    results = []

    for epsilon in epsilons:
        central = DPAttentionClassifier(epsilon=epsilon, delta=default_delta(len(y)), max_epochs=n_rounds,
                                        random_state=0, **public)
        _, central_seconds = _timed(lambda: central.fit(X, y))
        central_accuracy = central.score(test.data, test.target)
        central_sites = _per_site_accuracy(central.predict, test, test_sites, sites)
        print(f"central ε={epsilon:g}: accuracy {central_accuracy:.4f}, {central_seconds:.1f} s", flush=True)

        fed = FederatedDPAttentionClassifier(epsilon=epsilon, n_rounds=n_rounds, backend="in-process",
                                             random_state=0, **public)
        kept, fed_seconds = _timed(lambda: _fit_federated_following_rounds(fed, X, y, groups))
        fed_accuracy = fed.score(test.data, test.target)
        fed_sites = _per_site_accuracy(fed.predict, test, test_sites, sites)
        final_state = [a.copy() for a in kept[-1]]
        by_round = []
        for arrays in kept:
            set_arrays(fed.module_, arrays)
            by_round.append(fed.score(test.data, test.target))
        set_arrays(fed.module_, final_state)
        within = next((r + 1 for r, acc in enumerate(by_round) if acc >= central_accuracy - 0.01), None)
        print(f"federated ε={epsilon:g}: accuracy {fed_accuracy:.4f} (ε spent {fed.epsilon_:.3f}), "
              f"{fed_seconds:.1f} s, by round {[round(a, 4) for a in by_round]}", flush=True)

        alone_sites, alone_all, alone_spent, alone_seconds = {}, [], [], 0.0
        for site in sites:
            mask = groups == site
            clf = DPAttentionClassifier(epsilon=epsilon, delta=default_delta(site_rows[site]), max_epochs=n_rounds,
                                        random_state=0, **public)
            _, seconds = _timed(lambda: clf.fit(X[mask], y[mask]))
            alone_seconds += seconds
            alone_sites[site] = _per_site_accuracy(clf.predict, test, test_sites, [site])[site]
            alone_all.append(clf.score(test.data, test.target))
            alone_spent.append(clf.epsilon_)
            print(f"site {site} alone ε={epsilon:g}: own-site accuracy {alone_sites[site]:.4f}, "
                  f"{seconds:.1f} s", flush=True)

        results.append(dict(
            epsilon=epsilon,
            rows=[
                ("(a) federated, record-level DP", fed.epsilon_, fed_accuracy, fed_sites, fed_seconds,
                 "none" if within is None else str(within)),
                ("(b) central, pooled data", central.epsilon_, central_accuracy, central_sites, central_seconds, "–"),
                ("(c) each site alone (mean over sites)", max(alone_spent), float(np.mean(alone_all)),
                 alone_sites, alone_seconds, "–"),
            ],
            by_round=by_round,
        ))
    return results, sites, site_rows, len(X), len(test.data), n_rounds


def report(results, sites, site_rows, n_train, n_test, n_rounds, command):
    rows = []
    for result in results:
        for name, spent, accuracy, per_site, seconds, within in result["rows"]:
            worst = min(per_site, key=per_site.get)
            rows.append((name, f"{result['epsilon']:g}", f"{spent:.3f}", f"{accuracy:.4f}",
                         f"{np.mean(list(per_site.values())):.4f}", f"{per_site[worst]:.4f} ({worst})",
                         f"{seconds:.0f}", within))
    table = markdown_table(["model", "ε asked", "ε spent", "test accuracy (all rows)",
                            "own-site accuracy, mean of 5", "worst site", "wall seconds",
                            "rounds to within 1 point of (b)"], rows)
    split = ", ".join(f"{site} {site_rows[site]:,}" for site in sites)
    curves = "\n".join(
        f"- ε = {result['epsilon']:g}: " + ", ".join(f"{a:.4f}" for a in result["by_round"]) for result in results
    )
    return f"""## Federated training across 5 sites (UCI Adult split by race)

Command: `{command}`

Machine: {machine_description()}

Data: {n_train:,} training rows split into 5 sites by `race` ({split} rows), a non-IID
split: the sites differ in size by two orders of magnitude and in their income rates.
{n_test:,} official test rows. Each model makes {n_rounds} passes over each row: (a) {n_rounds}
rounds of one local epoch, FedAvg over all 5 sites each round, `backend="in-process"`;
(b) and (c) {n_rounds} epochs. Defaults otherwise (batch size "auto" per site). δ = 1/(10 n)
of the rows that (b) and each model of (c) protect; for (a), each site's default δ, 1e-5 (it
counts its rows with DP); ε spent of (a) and (c) is
the largest over the sites. "Test accuracy (all rows)" of (c) is the mean over the 5 site models. "Own-site
accuracy" scores each model on the test rows of each site (for (c), each site's own model), then
averages the 5 sites and names the worst. Wall seconds: the whole fit; for (c), the 5 fits
together, one after the other.

{table}

Test accuracy of the federated model after each round:

{curves}
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="5,000 rows, 3 rounds, ε=1; does not write docs")
    args = parser.parse_args(argv)
    command = command_line("federated.py", *(["--quick"] if args.quick else []),
                           *([f"--rounds {args.rounds}"] if args.rounds != 8 else []))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if args.quick:
            results = run([1.0], 3, n_rows=5000)
        else:
            results = run([1.0, 8.0], args.rounds)
    text = report(*results, command=command)
    print("\n" + text)
    if not args.quick:
        print(f"written to {write_section('federated', text)}")


if __name__ == "__main__":
    main()
