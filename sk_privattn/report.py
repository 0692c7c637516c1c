"""``privacy_report``: what a fit, a pipeline, a search or a cross-validation spent, per row."""

import math
from numbers import Real

import numpy as np
from sklearn.model_selection._search import BaseSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_is_fitted

from .model_selection import PrivateRandomSearch
from .privacy import (
    Neighbouring,
    PrivacyLedger,
    Relation,
    Unit,
    compute_epsilon,
    record_neighbouring,
    resolve_accountant,
)
from .privacy._recording import record_id
from .privacy.accountants import AccountantOptions
from .utils._docs import shared_docstring

__all__ = ["PrivacyReport", "privacy_report"]

_SELECTION_CAVEAT = (
    "Model selection read validation scores computed on private rows (cv_results_, best_params_, "
    "best_score_). That use of private data is not covered by the total above. Use "
    "sk_privattn.model_selection.PrivateRandomSearch for a selection whose guarantee covers it."
)
_ALWAYS_CAVEAT = (
    "Anything read from the data outside DP-SGD (each PrivacyLeakWarning the "
    "fits raised), and scores or predictions you compute later on private rows."
)


class PrivacyReport:
    """What a set of DP fits spent: each fit, and the total per training row.

    Returned by :func:`privacy_report`; not built by hand.

    Attributes
    ----------
    fits : list of dict
        One dict per fit: ``role``, ``estimator``, ``epsilon`` (the fit's
        parameter), ``n_samples`` (the count of rows its plan read: public,
        or a DP count, never the exact count), ``count_epsilon`` (the pure ε
        of its DP count, 0.0 for a public count), ``noise_multiplier``,
        ``sample_rate``, ``steps`` (of its training), ``fit_epsilon`` and
        ``fit_delta`` (what the fit spent on its own),
        ``metadata_noise_multiplier`` (of its DP metadata release, None
        without one), ``status``.
    total_epsilon : float
        ε paid by the row that paid most, composing (by ``accountant``) the
        mechanisms of every fit that trained on it, plus the pure ε of their
        DP counts, under ``neighbouring``.
    total_delta : float
        The δ of ``total_epsilon``: what the partition selections of the
        fits (their DP categories and classes) add to δ, and the δ at which
        the accountant composes the rest.
    selected_epsilon : float or None
        ε of the selected (refitted) model on its own; ``None`` if there is
        none.
    covers_selection : bool
        Whether the total covers the choice of the model too.
    rows_per_fit_count : dict of int to int
        How many distinct rows were trained on by how many fits (with a
        ledger; empty otherwise). These are exact counts of the private rows,
        for the data owner: they are not DP, and the printed report leaves
        them out.
    method : str
        How the total was found: from the ledger's row fingerprints, or
        conservatively, as if every fit had trained on every row.
    caveats : list of str
        What the total does not cover.
    neighbouring : str
        The relation of every ε in the report.
    unit : {"row", "person"}
        What one neighbour adds, removes or replaces; at person level,
        ``rows_per_fit_count`` counts persons.
    parts : dict of str to float
        For a report on one fitted model: the ε of each part of its release on
        its own, at the δ of its accountant: ``"metadata"`` (the DP release of
        the bounds, categories and classes it was not given; absent when all
        were public), ``"count"`` (the pure ε of its DP count) and
        ``"training"`` (DP-SGD). Under the PLD they compose to less than their
        sum. Empty for other reports.
    """

    def __init__(self, fits, total_epsilon, total_delta, selected_epsilon, covers_selection, rows_per_fit_count,
                 method, caveats, accountant, neighbouring=Relation.ADD_OR_REMOVE, unit=Unit.ROW):
        self.fits = fits
        self.total_epsilon = total_epsilon
        self.total_delta = total_delta
        self.selected_epsilon = selected_epsilon
        self.covers_selection = covers_selection
        self.rows_per_fit_count = rows_per_fit_count
        self.method = method
        self.caveats = caveats
        self.accountant = accountant
        self.neighbouring = neighbouring
        self.unit = unit
        self.parts = {}

    def to_frame(self):
        """One row per fit, as a pandas DataFrame (requires pandas)."""
        import pandas as pd

        return pd.DataFrame(self.fits)

    def __repr__(self):
        lines = [f"PrivacyReport: {len(self.fits)} DP fit(s)"]
        roles = {}
        for fit in self.fits:
            roles.setdefault(fit["role"], []).append(fit)
        for role, fits in roles.items():
            eps = sorted({_fmt(fit["epsilon"]) for fit in fits})
            spent = max(fit["fit_epsilon"] for fit in fits)
            lines.append(f"  {role}: {len(fits)} fit(s) at epsilon in {{{', '.join(eps)}}}, each spent ε ≤ {_fmt(spent)}")
        if self.selected_epsilon is not None:
            lines.append(f"  selected model on its own: ε = {_fmt(self.selected_epsilon)}")
        if self.parts:
            names = {"metadata": "metadata released with DP", "count": "DP count of the rows",
                     "training": "DP-SGD training"}
            split = ", ".join(f"{names[part]} ε = {_fmt(value)}" for part, value in self.parts.items()
                              if part != "count" or value > 0)
            lines.append(f"  each part on its own (they compose, they do not add): {split}")
        lines.append(
            f"  total per training {self.unit} (worst {self.unit}, {self.accountant.upper()} composition, "
            f"{Neighbouring(self.neighbouring, self.unit).describe()}): "
            f"(ε = {_fmt(self.total_epsilon)}, δ = {self.total_delta:.3g})"
        )
        if self.rows_per_fit_count:
            # How many rows: exact counts of the private rows, left out of what is printed.
            counts = ", ".join(str(n) for n in sorted(self.rows_per_fit_count))
            lines.append(f"  each {self.unit} was trained on by {counts} fit(s)")
        lines.append(f"  method: {self.method}")
        lines += [f"  not covered: {caveat}" for caveat in self.caveats]
        return "\n".join(lines)


def _fmt(value):
    return "inf" if not math.isfinite(value) else f"{value:.4g}"


def _dp_estimators(obj):
    """The fitted DP estimators in ``obj``: itself, or the steps of a pipeline (nested too)."""
    if hasattr(obj, "accountant_history_"):
        return [obj]
    if isinstance(obj, Pipeline):
        return [found for _, step in obj.steps for found in _dp_estimators(step)]
    if hasattr(obj, "get_params"):
        return [
            found
            for value in obj.get_params(deep=False).values()
            if hasattr(value, "get_params")
            for found in _dp_estimators(value)
        ]
    return []


def _fit_row(role, estimator=None, record=None):
    if record is not None:
        released = record.get("released", [])
        history = record["history"][len(released):]  # the training's entries, the metadata release apart
        noise = max((entry[0] for entry in history), default=0.0)
        return {
            "role": role,
            "estimator": record["estimator"],
            "epsilon": float(record["params"].get("epsilon", math.nan)),
            "n_samples": record["n_samples"],
            "count_epsilon": float(record.get("pure_epsilon", 0.0)),
            "noise_multiplier": noise,
            "sample_rate": max((entry[1] for entry in history), default=0.0),
            "steps": sum(entry[2] for entry in history),
            "fit_epsilon": float(record["epsilon"]),
            "fit_delta": record["delta"],
            "metadata_noise_multiplier": released[0][0] if released else None,
            "status": record["status"],
        }
    return {
        "role": role,
        "estimator": type(estimator).__name__,
        "epsilon": float(estimator.epsilon),
        "n_samples": getattr(estimator, "count_", None),
        "count_epsilon": getattr(estimator, "count_epsilon_", 0.0),
        "noise_multiplier": estimator.noise_multiplier_,
        "sample_rate": estimator.sample_rate_,
        "steps": estimator.n_steps_,
        "fit_epsilon": estimator.epsilon_,
        "fit_delta": estimator.delta_,
        "metadata_noise_multiplier": (estimator.metadata_history_[0][0]
                                      if getattr(estimator, "metadata_history_", None) else None),
        "status": "complete",
    }


def _rows_in_scope(records, scope_ids):
    """The fits that trained on a row in scope, and the group of each fit that each row paid.

    The scope is the rows of the fits ``scope_ids`` (the refit, the model),
    or of every fit when there are none. Returns the fits, and an int matrix
    with a row per training row and a column per fit: the index of the
    fit's group (a federation's site) that trained on the row, -1 if none.
    """
    in_scope = [record["rows"] for record in records if not scope_ids or record["id"] in scope_ids]
    rows = np.unique(np.concatenate(in_scope or [np.zeros(0, np.uint64)]))
    paid = np.full((len(rows), len(records)), -1, dtype=np.intp)
    for column, record in enumerate(records):
        if record["status"] == "refused":
            # A budget refused the fit after its DP count read every row it was given:
            # which rows is not recorded, so every row is charged.
            paid[:, column] = 0
            continue
        position = np.minimum(np.searchsorted(rows, record["rows"]), max(len(rows) - 1, 0))
        found = rows[position] == record["rows"] if len(rows) else np.zeros(len(record["rows"]), bool)
        if len(record["groups"]) == 1:
            paid[position[found], column] = 0
            continue
        # Identical rows share a fingerprint: charge them the dearest group, written last.
        dearest_last = np.argsort([compute_epsilon(group, record["delta"], "pld", record["neighbouring"])
                                   for group in record["groups"]])
        for group in dearest_last:
            chosen = found & (record["row_group"] == group)
            paid[position[chosen], column] = group
    touching = (paid >= 0).any(axis=0)
    return [record for record, used in zip(records, touching) if used], paid[:, touching]


def _composed(history, pure, partition, delta, accountant, relation):
    """``pure`` plus the ε of ``history`` at ``delta`` less what partition selections add (``partition``)."""
    if delta - partition <= 0:
        return math.inf
    return pure + compute_epsilon(history, delta - partition, accountant, relation)


def _per_row_total(records, paid, delta, accountant, relation):
    """ε of the row that paid most, and how many rows are in how many fits."""
    patterns, counts = np.unique(paid, axis=0, return_counts=True)
    total, per_fit_count = 0.0, {}
    for pattern, count in zip(patterns, counts):
        paying = [(record, group) for record, group in zip(records, pattern) if group >= 0]
        history = [tuple(entry) for record, group in paying if record["groups"] for entry in record["groups"][group]]
        pure = sum(record.get("pure_epsilon", 0.0) for record, _ in paying)
        partition = sum(record.get("partition_delta", 0.0) for record, _ in paying)
        total = max(total, _composed(history, pure, partition, delta, accountant, relation))
        n_fits = int((pattern >= 0).sum())
        per_fit_count[n_fits] = per_fit_count.get(n_fits, 0) + int(count)
    return total, per_fit_count


def _search_report(search):
    """The report of a fitted PrivateRandomSearch: its own bound covers the whole search."""
    check_is_fitted(search)
    caveats = [
        "Covered: every candidate's training and noisy validation score, the random number of "
        "candidates and the choice (Papernot & Steinke 2022, Theorem 2). Not covered: anything "
        "read from the data outside DP-SGD (each PrivacyLeakWarning), and scores you compute "
        "later on private rows."
    ]
    return PrivacyReport(
        [_fit_row("selected", estimator=search.best_estimator_)], search.epsilon_, search.delta_,
        search.best_estimator_.epsilon_, True, {},
        "private selection over a random number of candidates, RDP bound of the whole search",
        caveats, "rdp", search.neighbouring_, getattr(search, "privacy_unit_", Unit.ROW),
    )


def _common_relation(neighbourings, what):
    """The one :class:`Neighbouring` of ``neighbourings``; raise, naming both, for a mix."""
    neighbourings = list(dict.fromkeys(neighbourings)) or [Neighbouring(Relation.ADD_OR_REMOVE)]
    for other in neighbourings[1:]:
        neighbourings[0].check_same(other, what)
    return neighbourings[0]


@validate_params(
    {
        "obj": "no_validation",
        "ledger": [PrivacyLedger, None],
        "delta": [Interval(Real, 0, 1, closed="neither"), None],
        "accountant": [AccountantOptions(bounds=True, composing=True)],
    },
    prefer_skip_nested_validation=True,
)
@shared_docstring
def privacy_report(obj=None, *, ledger=None, delta=None, accountant="auto"):
    """Report the privacy that a fit, a pipeline, a search or a cross-validation spent.

    Lists every DP fit with its (ε, δ), noise multiplier, sample rate and
    steps; the total (ε, δ) paid by the training row that paid most, over
    all the fits that trained on it, composed by Opacus' accountant (a
    heterogeneous composition of subsampled Gaussian mechanisms, not a sum);
    the ε of the selected model on its own; and what the total does not
    cover.

    With a :class:`~sk_privattn.PrivacyLedger` that was open while the fits
    ran, the report knows, from keyed fingerprints of the rows, exactly which
    fits trained on each row (with 5-fold CV a row is in 4 of a candidate's 5
    fold fits, and in the refit). A fitted ``GridSearchCV`` or
    ``RandomizedSearchCV`` needs the ledger: it keeps none of its fold
    estimators. Without a ledger, the fits that ``obj`` holds are composed as
    if each had trained on every row, an upper bound.

    Parameters
    ----------
    obj : estimator, Pipeline, GridSearchCV, RandomizedSearchCV, dict or None
        A fitted DP estimator; a fitted pipeline that holds one; a fitted
        search over either; the dict of ``cross_validate(...,
        return_estimator=True)``; a fitted
        :class:`~sk_privattn.model_selection.PrivateRandomSearch`; or
        ``None`` for every fit in ``ledger``.
    ledger : PrivacyLedger, default=None
        The ledger that recorded the fits.
    delta : float, default=None
        δ of the total. ``None`` uses the smallest δ of the fits (that of the
        fit on the most rows, with the default δ).
    {composing accountant}

    Returns
    -------
    PrivacyReport

    Raises
    ------
    ValueError
        For a search without ``ledger``, ``obj`` of which no fit is known, or
        fits under different neighbouring relations, which do not compose.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn import DPAttentionClassifier, privacy_report
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(200, 3))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = DPAttentionClassifier(epsilon=1.0, bounds=(-1, 1), classes=[0, 1], max_epochs=1, d_token=8,
    ...                             n_heads=2, n_layers=1, random_state=0).fit(X, y)
    >>> report = privacy_report(clf)
    >>> report.total_epsilon == clf.epsilon_
    True
    >>> report.to_frame()[["role", "epsilon", "steps"]]
        role  epsilon  steps
    0  model      1.0     12
    """
    if isinstance(obj, PrivateRandomSearch):
        return _search_report(obj)
    caveats = [_ALWAYS_CAVEAT]
    selected, roles = None, {}
    if isinstance(obj, BaseSearchCV):
        if not hasattr(obj, "cv_results_"):
            raise ValueError(f"{type(obj).__name__} is not fitted; call fit inside a PrivacyLedger block first.")
        if ledger is None:
            raise ValueError(
                f"privacy_report({type(obj).__name__}) needs the ledger that recorded its fits: the search "
                "keeps none of its fold estimators. Fit it inside `with sk_privattn.PrivacyLedger() as "
                "ledger:` and call privacy_report(search, ledger=ledger)."
            )
        caveats.insert(0, _SELECTION_CAVEAT)
        estimators = _dp_estimators(obj.best_estimator_) if hasattr(obj, "best_estimator_") else []
        roles = {record_id(est): "refit" for est in estimators}
        selected = estimators[0].epsilon_ if estimators else None
        default_role = "cv fold"
    elif isinstance(obj, dict) and "estimator" in obj:
        estimators = [found for est in obj["estimator"] for found in _dp_estimators(est)]
        roles = {record_id(est): "cv fold" for est in estimators}
        caveats.insert(0, "The cross-validation scores were computed on private rows (the held-out folds).")
        default_role = "other fit on these rows"
    elif obj is None:
        if ledger is None:
            raise ValueError("privacy_report() needs obj, or a ledger to report on.")
        estimators = []
        default_role = "fit"
    else:
        estimators = _dp_estimators(obj)
        if not estimators:
            raise ValueError(
                f"{type(obj).__name__} holds no fitted DP estimator (an estimator with accountant_history_); "
                "pass a fitted DP estimator, a pipeline holding one, a fitted search, or the dict of "
                "cross_validate(..., return_estimator=True)."
            )
        roles = {record_id(est): "model" for est in estimators}
        selected = estimators[0].epsilon_ if len(estimators) == 1 else None
        default_role = "other fit on these rows"
    roles.pop(None, None)

    if ledger is not None:
        records = ledger.read(with_rows=True)
        missing = [est for est in estimators if record_id(est) not in {r["id"] for r in records}]
        if missing or not records:
            raise ValueError(
                f"The ledger holds no record of {len(missing) or 'any'} of the fits of {type(obj).__name__}: "
                "fit them inside the `with ledger:` block, or call privacy_report without ledger."
            )
        used, paid = _rows_in_scope(records, set(roles))
        neighbouring = _common_relation([record_neighbouring(record) for record in used], "Two fits in this report")
        relation = neighbouring.relation
        accountant = resolve_accountant(accountant, relation)
        delta = delta if delta is not None else min(record["delta"] for record in used)
        total, per_fit_count = _per_row_total(used, paid, delta, accountant, relation)
        fits = [_fit_row(roles.get(record["id"], default_role), record=record) for record in used]
        method = "per row, from the ledger's row fingerprints"
    else:
        histories = [tuple(entry) for est in estimators for entry in est.accountant_history_]
        neighbouring = _common_relation(
            [Neighbouring(getattr(est, "neighbouring_", Relation.ADD_OR_REMOVE), getattr(est, "privacy_unit_", Unit.ROW))
             for est in estimators],
            "Two fits in this report",
        )
        relation = neighbouring.relation
        accountant = resolve_accountant(accountant, relation)
        delta = delta if delta is not None else min(est.delta_ for est in estimators)
        pure = sum(getattr(est, "count_epsilon_", 0.0) for est in estimators)
        partition = sum(getattr(est, "partition_delta_", 0.0) for est in estimators)
        total = _composed(histories, pure, partition, delta, accountant, relation)
        fits = [_fit_row(roles.get(record_id(est), "model"), estimator=est) for est in estimators]
        if isinstance(obj, dict):
            for fit in fits:
                fit["role"] = "cv fold"
        per_fit_count = {}
        method = (
            "without a ledger: the fits composed as if each had trained on every row (an upper bound)"
            if len(estimators) > 1
            else "the model's own accountant history"
        )
    report = PrivacyReport(fits, total, delta, selected, False, per_fit_count, method, caveats, accountant, relation,
                           neighbouring.unit)
    if len(estimators) == 1 and ledger is None:
        report.parts = _parts(estimators[0], accountant, relation)
    return report


def _parts(estimator, accountant, relation):
    """The ε of each part of one model's release on its own, at the accountant's δ: the DP
    metadata, the DP count, the training. They do not add: the accountant composes them."""
    history = [tuple(entry) for entry in estimator.accountant_history_]
    released = [tuple(entry) for entry in getattr(estimator, "metadata_history_", [])]
    training = history[len(released):] if history[:len(released)] == released else history
    delta = estimator.delta_ - getattr(estimator, "partition_delta_", 0.0)
    parts = {"count": float(getattr(estimator, "count_epsilon_", 0.0))}
    if released:
        parts["metadata"] = compute_epsilon(released, delta, accountant, relation)
    parts["training"] = compute_epsilon(training, delta, accountant, relation) if training else 0.0
    return parts
