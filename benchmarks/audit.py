"""Audit on UCI Adult: membership inference against private and non-private models, and a search's cost.

Two parts, in one run:

1. **Audit.** 1,000 training rows (members) and 1,000 other rows (non-members) drawn at random
   from the Adult training split. The same FT-Transformer, large enough to overfit 1,000 rows
   when trained without privacy, is trained with ε = inf, 8 and 1; a random forest is audited too
   (any scikit-learn classifier can be). For each model: the loss-threshold attack and the offline
   LiRA attack (shadow models on other Adult rows), with their ROC AUC, best advantage
   max(TPR - FPR) and the empirical ε lower bound at the members' δ = 1/(10 n), 95% confidence.
2. **The cost of a search.** ``GridSearchCV`` over ε ∈ {0.5, 1, 3, 8} with cv=5, inside a
   ``PrivacyLedger``: the ε per training row over all the fits that trained on it, from
   ``privacy_report``, beside the ε of the selected model.

Prints both tables and writes them to docs/privacy.md (section "audit"). It reports; it never
asserts. Adult ships with the package, so no data directory is needed. Usage::

    python benchmarks/audit.py            # the full run
    python benchmarks/audit.py --quick    # a smoke run on fewer rows and epochs; does not write docs
"""

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import command_line, machine_description, markdown_table, write_section  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from sk_privattn import DPAttentionClassifier, PrivacyLedger, privacy_report  # noqa: E402
from sk_privattn.audit import membership_inference  # noqa: E402
from sk_privattn.datasets import load_adult  # noqa: E402
from sk_privattn.privacy import default_delta  # noqa: E402

PRIVACY_DOCS = Path(__file__).resolve().parent.parent / "docs" / "privacy.md"


def _rows(data, indices):
    return data.iloc[indices].reset_index(drop=True)


def audit(n_members, max_epochs, n_shadow, seed=0):
    """One row per (model, attack): AUC, advantage, ε lower bound, and the claimed ε."""
    adult = load_adult(subset="train", as_frame=True)
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(adult.target))
    members, nonmembers = order[:n_members], order[n_members:2 * n_members]
    reference = order[2 * n_members:4 * n_members]  # the shadows' data: neither members nor non-members
    X_in, y_in = _rows(adult.data, members), adult.target[members]
    X_out, y_out = _rows(adult.data, nonmembers), adult.target[nonmembers]
    X_ref, y_ref = _rows(adult.data, reference), adult.target[reference]
    delta = default_delta(n_members)
    # Big enough to memorise 1,000 rows without privacy: 2 blocks of width 64, many epochs.
    network = dict(d_token=64, n_heads=4, n_layers=2, max_epochs=max_epochs, batch_size=64, lr=3e-3,
                   lr_schedule="constant", bounds=adult.bounds, categories=adult.categories,
                   classes=adult.classes, random_state=seed)
    models = [(f"FT-Transformer, ε={eps:g}", DPAttentionClassifier(epsilon=eps, delta=delta, **network))
              for eps in (math.inf, 8.0, 1.0)]
    forest = RandomForestClassifier(n_estimators=200, random_state=seed)
    rows = []
    for name, model in models + [("random forest (non-private)", forest)]:
        is_forest = model is forest
        if is_forest:
            encode = lambda frame: frame.apply(lambda c: c.cat.codes if hasattr(c, "cat") else c)  # noqa: E731
            X_in_m, X_out_m, X_ref_m = encode(X_in), encode(X_out), encode(X_ref)
        else:
            X_in_m, X_out_m, X_ref_m = X_in, X_out, X_ref
        start = time.perf_counter()
        model.fit(X_in_m, y_in)
        seconds = time.perf_counter() - start
        claimed = getattr(model, "epsilon_", math.inf)
        train_acc, test_acc = model.score(X_in_m, y_in), model.score(X_out_m, y_out)
        for attack in ("loss", "lira"):
            options = dict(X_reference=X_ref_m, y_reference=y_ref, n_shadow=n_shadow) if attack == "lira" else {}
            result = membership_inference(model, X_in_m, y_in, X_out_m, y_out, attack=attack, delta=delta,
                                          random_state=seed, **options)
            rows.append([name, attack, f"{train_acc:.3f}", f"{test_acc:.3f}", f"{result.auc:.3f}",
                         f"{result.advantage:.3f}", f"{result.epsilon_lower_bound:.2f}",
                         "inf" if math.isinf(claimed) else f"{claimed:.2f}"])
            print(" | ".join(rows[-1]), f"(fit {seconds:.0f} s)", flush=True)
    return rows, delta


def search_cost(n_rows, max_epochs, seed=0):
    adult = load_adult(subset="train", as_frame=True)
    rows = np.random.RandomState(seed + 1).permutation(len(adult.target))[:n_rows]
    X, y = _rows(adult.data, rows), adult.target[rows]
    clf = DPAttentionClassifier(max_epochs=max_epochs, bounds=adult.bounds, categories=adult.categories,
                                classes=adult.classes, random_state=seed)
    search = GridSearchCV(clf, {"epsilon": [0.5, 1.0, 3.0, 8.0]}, cv=5, n_jobs=2)
    start = time.perf_counter()
    with PrivacyLedger() as ledger:
        search.fit(X, y)
    seconds = time.perf_counter() - start
    report = privacy_report(search, ledger=ledger)
    print(report, flush=True)
    return search, report, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 members, 5 epochs, 2,000-row search; no docs")
    parser.add_argument("--epochs", type=int, default=60, help="epochs of the audited models")
    parser.add_argument("--shadows", type=int, default=4, help="LiRA shadow models per audited model")
    parser.add_argument("--search-rows", type=int, default=8000, help="Adult rows for the GridSearchCV")
    parser.add_argument("--search-epochs", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", FutureWarning)
    if args.quick:
        args.epochs, args.search_rows, args.search_epochs, n_members = 5, 2000, 1, 300
    else:
        n_members = 1000
    command = command_line("audit.py", *(["--quick"] if args.quick else [
        f"--epochs {args.epochs}", f"--shadows {args.shadows}", f"--search-rows {args.search_rows}",
        f"--search-epochs {args.search_epochs}"]))
    start = time.perf_counter()
    audit_rows, delta = audit(n_members, args.epochs, args.shadows)
    search, report, search_seconds = search_cost(args.search_rows, args.search_epochs)
    total_minutes = (time.perf_counter() - start) / 60
    audit_table = markdown_table(
        ["model", "attack", "train acc.", "non-member acc.", "AUC", "advantage", "empirical ε ≥", "claimed ε"],
        audit_rows,
    )
    frame = report.to_frame()
    search_table = markdown_table(
        ["what", "ε", "δ"],
        [
            ["each fit on its own (largest)", f"{frame['fit_epsilon'].max():.3g}", f"{frame['fit_delta'].max():.3g}"],
            [f"selected model (refit, best_params_={search.best_params_})", f"{report.selected_epsilon:.3g}",
             f"{search.best_estimator_.delta_:.3g}"],
            ["**total per training row** (PRV composition of its "
             f"{max(report.rows_per_fit_count)} fits)", f"**{report.total_epsilon:.3g}**", f"{report.total_delta:.3g}"],
        ],
    )
    text = "\n".join([
        f"Membership inference on {n_members:,} Adult members and {n_members:,} non-members, δ = {delta:g}, "
        f"95% Clopper-Pearson confidence, threshold chosen on one half of the rows and the bound computed on "
        f"the other; LiRA offline with {args.shadows} shadow models on {2 * n_members:,} other Adult rows. "
        f"The audited FT-Transformers: d_token=64, 2 blocks, {args.epochs} epochs, batch 64, lr 3e-3.",
        "",
        audit_table,
        "",
        f"`GridSearchCV` over ε ∈ {{0.5, 1, 3, 8}}, cv=5, n_jobs=2, on {args.search_rows:,} Adult rows with "
        f"max_epochs={args.search_epochs} (other parameters at their defaults), fitted inside a "
        f"`PrivacyLedger` ({len(frame)} DP fits, {search_seconds / 60:.1f} min): what `privacy_report` says.",
        "",
        search_table,
        "",
        "The total does not cover the choice of the model: it read validation scores of private rows.",
        "",
        f"Command: `{command}` ({total_minutes:.0f} min in all, on a machine shared with other jobs).",
        f"Machine: {machine_description()}.",
    ])
    print("\n" + text)
    if not args.quick:
        print(f"written to {write_section('audit', text, path=PRIVACY_DOCS)}")


if __name__ == "__main__":
    main()
