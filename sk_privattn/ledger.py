"""The privacy ledger: a record of every DP fit, written by the fit itself.

Every DP estimator's ``fit`` writes one record to each active ledger: the
estimator, its privacy parameters, the mechanisms it ran (noise multiplier,
sample rate, steps), whether it completed, and a keyed 64-bit fingerprint of
each training row. From those records :func:`~sk_privattn.privacy_report`
finds, for every row, the exact set of fits that trained on it, and composes
their mechanisms.

Why a directory of files: a search with ``n_jobs=2`` fits in joblib worker
processes, which cannot append to an object of the parent. A ledger is a
directory; each fit writes its own record file atomically, so workers need no
shared memory and no coordination beyond a file lock (used by budgets).

How worker processes find it: an estimator pickled while a ledger is active
carries the ledger's directory in its pickled state (see
:class:`RecordsFits`). ``GridSearchCV`` clones in the parent and pickles the
clone to the worker, so the worker's fit records into the parent's ledger.
Nothing is added to the estimator's parameters, so ``clone`` and
``get_params`` are unchanged. When the ``with`` block ends the ledger is
closed: later fits of such an unpickled estimator record nothing.
"""

import hashlib
import json
import math
import os
import secrets
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from filelock import FileLock

from .privacy import compute_epsilon

__all__ = ["PrivacyLedger", "RecordsFits", "begin_fit", "row_fingerprints"]

_OPEN = "OPEN"
_KEY = "key"
_LOCK = "lock"

#: The ledgers (and budgets) of ``with`` blocks open in this process, innermost last.
_ACTIVE = []


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


class PrivacyLedger:
    """Record every differentially private fit run inside a ``with`` block.

    Each DP fit inside the block, in this process or in joblib worker
    processes (``GridSearchCV(n_jobs=2)``), writes a record: its privacy
    parameters, the mechanisms it ran, and a keyed fingerprint of each of its
    training rows. :func:`~sk_privattn.privacy_report` reads the records to
    compose, for each row, the fits that trained on it.

    Parameters
    ----------
    path : str or path-like, default=None
        Directory that holds the records. ``None`` uses a temporary directory
        that is deleted when the block ends (the records stay readable on
        the ledger object). A given path is kept, so a ledger can span several
        sessions: reopen it with the same path.

    Attributes
    ----------
    path : Path
        The records' directory.

    See Also
    --------
    sk_privattn.privacy_report : the report that reads the ledger.
    sk_privattn.PrivacyBudget : a ledger that refuses fits over a total (ε, δ).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sk_privattn import DPAttentionClassifier, PrivacyLedger, privacy_report
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(200, 3))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = DPAttentionClassifier(bounds=(-1, 1), classes=[0, 1], max_epochs=1, d_token=8, n_heads=2,
    ...                             n_layers=1, random_state=0)
    >>> with PrivacyLedger() as ledger:
    ...     search = GridSearchCV(clf, {"epsilon": [1.0]}, cv=2).fit(X, y)
    >>> len(ledger.records)   # 2 folds, and the refit
    3
    >>> report = privacy_report(search, ledger=ledger)
    >>> report.total_epsilon > report.selected_epsilon
    True
    """

    #: Whether this ledger refuses fits (see :class:`~sk_privattn.PrivacyBudget`).
    is_budget = False

    def __init__(self, path=None):
        self.path = None if path is None else Path(path)
        self._temporary = path is None
        self._key = None
        self._closed_records = None

    # -- the with block ----------------------------------------------------

    def __enter__(self):
        if self.path is None or (self._temporary and self._closed_records is not None):
            self.path = Path(tempfile.mkdtemp(prefix="sk_privattn_ledger_"))
            self._temporary = True
        self.path.mkdir(parents=True, exist_ok=True)
        key_file = self.path / _KEY
        with FileLock(str(self.path / _LOCK)):
            if not key_file.exists():
                key_file.write_text(secrets.token_hex(16))
        self._key = bytes.fromhex(key_file.read_text())
        (self.path / _OPEN).touch()
        self._closed_records = None
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc_info):
        _ACTIVE.remove(self)
        self._closed_records = self._read_records(with_rows=True)
        (self.path / _OPEN).unlink(missing_ok=True)
        if self._temporary:
            shutil.rmtree(self.path, ignore_errors=True)
        return False

    # -- records -----------------------------------------------------------

    @property
    def records(self):
        """The records, oldest first: a list of dicts (without the row fingerprints)."""
        records = self._closed_records if self._closed_records is not None else self._read_records()
        return [{key: value for key, value in record.items() if key != "rows"} for record in records]

    def _records_with_rows(self):
        return self._closed_records if self._closed_records is not None else self._read_records(with_rows=True)

    def _read_records(self, with_rows=False):
        if self.path is None or not self.path.exists():
            return []
        records = []
        for file in self.path.glob("fit-*.json"):
            try:
                record = json.loads(file.read_text())
            except (OSError, json.JSONDecodeError):  # being replaced right now
                continue
            if with_rows:
                rows_file = file.with_suffix(".npy")
                record["rows"] = np.load(rows_file) if rows_file.exists() else np.zeros(0, dtype=np.uint64)
            records.append(record)
        return sorted(records, key=lambda record: record["started"])

    def _write(self, record, rows=None):
        """Write ``record`` (and its rows) atomically; readers never see half a file."""
        if not self.path.exists():  # a temporary ledger whose block has ended
            return
        target = self.path / f"fit-{record['id']}.json"
        if rows is not None:
            rows_tmp = self.path / f".fit-{record['id']}.{os.getpid()}.npy"
            np.save(rows_tmp, rows)
            os.replace(rows_tmp, target.with_suffix(".npy"))
        tmp = self.path / f".fit-{record['id']}.{os.getpid()}.json"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, target)

    def _check(self, planned, estimator):
        """Raise if this ledger refuses a fit that will run ``planned``; a plain ledger never does."""

    def _reserve(self, record, rows, estimator):
        """Write the record of a fit about to train (its planned mechanism, its rows).

        A budget checks it first, under the lock, so that two worker
        processes cannot both spend the last of it.
        """
        self._write(record, rows)

    def report(self, obj=None, **kwargs):
        """:func:`~sk_privattn.privacy_report` of ``obj`` (or of every fit) over this ledger."""
        from .report import privacy_report

        return privacy_report(obj, ledger=self, **kwargs)

    def __repr__(self):
        state = "open" if self in _ACTIVE else "closed"
        return f"{type(self).__name__}(path={str(self.path)!r}) [{state}, {len(self.records)} fits]"


def _attach(path):
    """The ledger (or budget) at ``path`` as seen from another process; ``None`` once its block has ended."""
    path = Path(path)
    if not (path / _OPEN).exists():
        return None
    settings = path / "budget.json"
    if settings.exists():
        from .budget import PrivacyBudget

        ledger = PrivacyBudget(**json.loads(settings.read_text()), path=path)
    else:
        ledger = PrivacyLedger(path)
    ledger._key = bytes.fromhex((path / _KEY).read_text())
    return ledger


def _active_ledgers(estimator):
    """The open ledgers a fit of ``estimator`` records to: this process's, and those it was pickled with."""
    ledgers = list(_ACTIVE)
    known = {ledger.path for ledger in ledgers}
    for path in getattr(estimator, "_ledger_paths", ()):
        attached = None if Path(path) in known else _attach(path)
        if attached is not None:
            ledgers.append(attached)
            known.add(attached.path)
    return ledgers


class RecordsFits:
    """Mixin of the DP estimators: an active ledger travels with a pickled estimator.

    ``__getstate__`` adds the directories of the ledgers open in this process;
    ``__setstate__`` keeps them, so that a fit in a joblib worker records to
    them. Parameters, ``clone`` and ``get_params`` are untouched.
    """

    def __getstate__(self):
        state = dict(super().__getstate__())
        paths = {str(ledger.path) for ledger in _ACTIVE}
        paths.update(path for path in state.pop("_ledger_paths", ()) if Path(path, _OPEN).exists())
        if paths:
            state["_ledger_paths"] = sorted(paths)
        return state


class _NoRecorder:
    """What :func:`begin_fit` returns when no ledger is active: records nothing."""

    def for_rows(self, X, y):
        return self

    def start(self, planned):
        pass

    def spent(self, history):
        pass


class _FitRecorder:
    """The record of one fit in every active ledger, from its start to its end.

    ``start`` (by the training routine, once the noise is calibrated)
    reserves the planned mechanism, with the fingerprints of the rows, so a
    fit whose process dies still counts; ``spent`` (from the routine's
    ``finally``) replaces it with the mechanisms that actually ran.
    """

    def __init__(self, estimator, ledgers, plan, previous):
        self.estimator = estimator
        self.ledgers = ledgers
        self.planned_steps = plan.n_steps
        self.record = {
            "id": uuid.uuid4().hex,
            "estimator": type(estimator).__name__,
            "params": _simple_params(estimator),
            "n_samples": plan.n_samples,
            "delta": plan.delta,
            "accountant": estimator.accountant,
            "warm_start_call": previous is not None,
            "status": "running",
            "history": [],
            "epsilon": math.nan,
            "pid": os.getpid(),
            "started": time.time(),
        }
        # Checked before the fit reads any data: the plan needs only the number of rows.
        for ledger in ledgers:
            ledger._check(plan.history(), estimator)

    def for_rows(self, X, y):
        """The validated training rows, fingerprinted when the fit starts training."""
        self.X, self.y = X, y
        return self

    def start(self, planned):
        for ledger in self.ledgers:
            rows = row_fingerprints(self.X, self.y, ledger._key)
            ledger._reserve(self._with_history(planned, "running"), rows, self.estimator)

    def spent(self, history):
        steps = sum(int(entry[2]) for entry in history)
        record = self._with_history(history, "complete" if steps >= self.planned_steps else "failed")
        self.estimator._privacy_record_id = record["id"]
        for ledger in self.ledgers:
            ledger._write(record)

    def _with_history(self, history, status):
        history = [[float(noise), float(rate), int(steps)] for noise, rate, steps in history]
        epsilon = math.nan  # of a running fit: not computed, to keep the start cheap
        if status != "running":
            accountant = "prv" if self.record["accountant"] == "gdp" else self.record["accountant"]
            epsilon = compute_epsilon(history, self.record["delta"], accountant)
        return dict(self.record, status=status, history=history, epsilon=epsilon)


def _simple_params(estimator):
    """The parameters of ``estimator`` that JSON can hold (numbers, strings, None)."""
    simple = {}
    for name, value in estimator.get_params(deep=False).items():
        if isinstance(value, (bool, int, str)) or value is None:
            simple[name] = value
        elif isinstance(value, float):
            simple[name] = value
    return simple


def begin_fit(estimator, plan, previous=None):
    """Start the record of a fit of ``estimator`` that will run ``plan``; check every active budget.

    Raises :class:`~sk_privattn.exceptions.BudgetExceededError` if an active
    :class:`~sk_privattn.PrivacyBudget` cannot afford the plan. Returns an
    object whose ``start(planned)`` and ``spent(history)`` the training
    routine calls, before the first step and when it stops, whether it
    completed or failed.
    """
    ledgers = _active_ledgers(estimator)
    if not ledgers:
        return _NoRecorder()
    return _FitRecorder(estimator, ledgers, plan, previous)
