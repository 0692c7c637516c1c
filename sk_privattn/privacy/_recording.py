"""How a DP fit records itself in the open ledgers (and asks the open budgets).

The one fit path of every estimator (:mod:`sk_privattn._base`) calls :func:`begin_fit`
with the fit's plan, before it reads any data: every open
:class:`~sk_privattn.PrivacyBudget` checks the planned mechanism then. The
training routine then calls ``start()`` before its first step, which reserves
the planned mechanism with a keyed fingerprint of each training row (so a fit
whose process dies still counts), and ``spent(...)`` when it stops, completed
or not, with what actually ran.

A fit's rows may pay different mechanisms: each site of a federation runs its
own. The plan then gives one history per *group* of rows
(``plan.row_histories()``, and ``plan.group_of_row``), and the record keeps the
group of every row, so that :func:`~sk_privattn.privacy_report` composes, for
each row, exactly what it paid.

How worker processes find the ledgers: an estimator pickled while a ledger is
open carries the ledger's directory in its pickled state (:class:`RecordsFits`).
``GridSearchCV`` clones in the parent and pickles the clone to the worker, so
the worker's fit records into the parent's ledger. Nothing is added to the
estimator's parameters, so ``clone`` and ``get_params`` are unchanged. When the
``with`` block ends the ledger is closed: later fits of such an unpickled
estimator record nothing.
"""

import hashlib
import math
import os
import time
import uuid
from pathlib import Path

import numpy as np

from ..exceptions import BudgetExceededError
from ._calibration import compute_epsilon
from .accountants import get_accountant
from .ledger import attach, is_open, open_ledgers

__all__ = ["RecordsFits", "begin_fit", "ledgers_of", "record_accountant_delta", "record_id", "row_fingerprints"]


def row_fingerprints(X, y, key):
    """A keyed 64-bit fingerprint of each row of ``(X, y)``, as uint64.

    BLAKE2b keyed with the ledger's secret ``key``: without the key, the
    fingerprints do not let anyone test whether a given record was used.
    Numeric arrays are hashed by their float64 bytes, mixed (object) arrays by
    the ``repr`` of each row: within one search the rows reach every fit in
    the same form, so the same row gets the same fingerprint.
    """
    X = np.asarray(X)
    y = np.asarray(y) if y is not None else np.zeros(len(X))
    if X.dtype.kind in "biuf":
        rows = [row.tobytes() for row in np.ascontiguousarray(X, dtype=np.float64)]
    else:
        rows = [repr(tuple(row)).encode() for row in X]
    labels = [repr(label).encode() for label in y.tolist()]
    digests = [
        hashlib.blake2b(row + b"\x00" + label, key=key, digest_size=8).digest() for row, label in zip(rows, labels)
    ]
    return np.frombuffer(b"".join(digests), dtype=np.uint64).copy()


def record_id(estimator):
    """The id of the ledger record of ``estimator``'s last fit, or ``None`` if none recorded it."""
    return getattr(estimator, "_privacy_record_id", None)


def ledgers_of(estimator):
    """The open ledgers a fit of ``estimator`` records to: this process's, and those it was pickled with."""
    ledgers = open_ledgers()
    known = {ledger.path for ledger in ledgers}
    for path in getattr(estimator, "_ledger_paths", ()):
        attached = None if Path(path) in known else attach(path)
        if attached is not None:
            ledgers.append(attached)
            known.add(attached.path)
    return ledgers


class RecordsFits:
    """Mixin of the DP estimators: an open ledger travels with a pickled estimator.

    ``__getstate__`` adds the directories of the ledgers open in this process;
    ``__setstate__`` keeps them, so that a fit in a joblib worker records to
    them. Parameters, ``clone`` and ``get_params`` are untouched.
    """

    def __getstate__(self):
        state = dict(super().__getstate__())
        paths = {str(ledger.path) for ledger in open_ledgers()}
        paths.update(path for path in state.pop("_ledger_paths", ()) if is_open(path))
        if paths:
            state["_ledger_paths"] = sorted(paths)
        return state


class _NoRecorder:
    """What :func:`begin_fit` returns when no ledger is open: records nothing."""

    def for_rows(self, X, y):
        return self

    def for_persons(self, ids):
        return self

    def start(self):
        pass

    def spent(self, *histories):
        pass


def _steps(histories):
    return sum(int(entry[2]) for history in histories for entry in history)


def _as_lists(history):
    return [[float(noise), float(rate), int(steps)] for noise, rate, steps in history]


class _FitRecorder:
    """The record of one fit in every open ledger, from its start to its end."""

    def __init__(self, estimator, ledgers, plan, previous):
        self.estimator = estimator
        self.ledgers = ledgers
        self.planned = plan.row_histories()
        # What the fit released before it trained (its DP metadata): every row paid it.
        self.released = [tuple(entry) for entry in plan.release_history]
        self.group_of_row = plan.group_of_row
        count = plan.count
        self.record = {
            "id": uuid.uuid4().hex,
            "estimator": type(estimator).__name__,
            "params": _simple_params(estimator),
            # The count the plan read (public or DP), never the exact number of rows.
            "n_samples": plan.n_samples,
            "count": {"source": count.source, "value": int(count.value), "epsilon": float(count.epsilon)},
            # The pure ε of this call's DP count (the earlier calls of a warm start have their own records).
            "pure_epsilon": float(count.epsilon),
            "neighbouring": plan.relation,
            "unit": plan.neighbouring.unit,
            "delta": plan.delta,
            # The part of δ that partition selection (DP categories, classes) adds outside the accountant.
            "partition_delta": plan.partition_delta,
            "accountant": plan.accountant,
            "warm_start_call": previous is not None,
            "status": "running",
            "history": [],
            # The entries of ``history`` that the fit released before it trained (its DP metadata).
            "released": _as_lists(self.released),
            "groups": [],
            "epsilon": math.nan,
            "pid": os.getpid(),
            "started": time.time(),
        }
        # Checked before the fit reads the rows: the plan needs only their count. A DP
        # count was released to make the plan, so a refused fit still spent it.
        try:
            for ledger in ledgers:
                ledger.check(self.planned, estimator, pure_epsilon=self.record["pure_epsilon"],
                             neighbouring=plan.neighbouring, partition_delta=plan.partition_delta)
        except BudgetExceededError:
            if count.private:
                refused = dict(self.record, status="refused", epsilon=self.record["pure_epsilon"])
                for ledger in ledgers:
                    ledger.write(refused)
            raise

    def for_rows(self, X, y):
        """The validated training rows, fingerprinted when the fit starts training."""
        self.X, self.y = X, y
        return self

    def for_persons(self, ids):
        """Person level: the persons' ids, one fingerprint per person."""
        return self.for_rows(np.asarray(ids, dtype=object).reshape(-1, 1), None)

    def start(self):
        """Reserve the planned mechanisms, with the rows, before the first step."""
        for ledger in self.ledgers:
            rows = row_fingerprints(self.X, self.y, ledger.key)
            ledger.reserve(self._with(self.planned, "running"), rows, self.group_of_row, self.estimator)

    def spent(self, *histories):
        """Replace the reservation by what ran: one history per group of rows (its training; what
        the fit released before it trained is added to each)."""
        histories = [[*self.released, *history] for history in histories]
        complete = _steps(histories) >= _steps(self.planned)
        record = self._with(histories, "complete" if complete else "failed")
        self.estimator._privacy_record_id = record["id"]
        for ledger in self.ledgers:
            ledger.write(record)

    def _with(self, histories, status):
        groups = [_as_lists(history) for history in histories]
        epsilons = [math.nan] * len(groups)  # of a running fit: not computed, to keep the start cheap
        if status != "running":
            # An accountant that is not a bound ("gdp") records the ε of the one that bounds it.
            accountant = get_accountant(self.record["accountant"]).bounded_by or self.record["accountant"]
            delta = record_accountant_delta(self.record)
            epsilons = [
                self.record["pure_epsilon"] + compute_epsilon(group, delta, accountant, self.record["neighbouring"])
                for group in groups
            ]
        worst = int(np.argmax(epsilons)) if status != "running" and groups else 0
        return dict(
            self.record,
            status=status,
            groups=groups,
            history=groups[worst] if groups else [],
            epsilon=epsilons[worst] if groups else math.nan,
        )


def record_accountant_delta(record):
    """The δ at which a record's mechanisms are composed: its δ less what partition selection adds."""
    return record["delta"] - record.get("partition_delta", 0.0)


def _simple_params(estimator):
    """The parameters of ``estimator`` that JSON can hold (numbers, strings, None)."""
    return {
        name: value
        for name, value in estimator.get_params(deep=False).items()
        if isinstance(value, (bool, int, float, str)) or value is None
    }


def begin_fit(estimator, plan, previous=None):
    """Start the record of a fit of ``estimator`` that will run ``plan``; check every open budget.

    ``plan`` gives ``n_samples`` (its count), ``count``, ``relation``,
    ``delta``, ``accountant``, ``row_histories()`` (one history per group of
    rows) and ``group_of_row`` (``None`` for a single group).
    Raises :class:`~sk_privattn.exceptions.BudgetExceededError` if an open
    :class:`~sk_privattn.PrivacyBudget` cannot afford the plan. Returns an
    object whose ``start()`` and ``spent(*histories)`` the training routine
    calls, before the first step and when it stops, whether it completed or
    failed.
    """
    ledgers = ledgers_of(estimator)
    if not ledgers:
        return _NoRecorder()
    return _FitRecorder(estimator, ledgers, plan, previous)
