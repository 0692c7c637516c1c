"""The privacy ledger: where the records of DP fits are stored.

A ledger is a directory with one record per DP fit: the estimator, its
privacy parameters, its neighbouring relation, the count of rows its plan
read (public or DP, and the pure ε that a DP count spent), the mechanisms it
ran (noise multiplier, sample rate, steps), whether it completed, and a keyed
64-bit fingerprint of each training row. A ledger is the data owner's own
record, not a release: the fingerprints and the number of them are functions
of the private rows. The fits write their records themselves, through the recording protocol
of :mod:`sk_privattn.privacy._recording`; :func:`~sk_privattn.privacy_report` reads them
to find, for every row, the exact set of fits that trained on it.

Why a directory of files: a search with ``n_jobs=2`` fits in joblib worker
processes, which cannot append to an object of the parent. Each fit writes its
own record file atomically, so workers need no shared memory and no
coordination beyond a file lock (used by budgets). A worker finds an open
ledger by its directory: :func:`attach` rebuilds the ledger (or the budget)
from what the directory holds.
"""

import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import numpy as np
from filelock import FileLock

__all__ = ["PrivacyLedger", "attach", "is_open", "open_ledgers"]

_OPEN = "OPEN"
_KEY = "key"
_LOCK = "lock"
_SETTINGS = "settings.json"

#: The ledgers (and budgets) of ``with`` blocks open in this process, innermost last.
_ACTIVE = []

#: Ledger classes by name, so that :func:`attach` rebuilds a budget as a budget.
_KINDS = {}


def open_ledgers():
    """The ledgers whose ``with`` block is open in this process, innermost last."""
    return list(_ACTIVE)


def is_open(path):
    """Whether the ledger at ``path`` is inside its ``with`` block (in any process)."""
    return (Path(path) / _OPEN).exists()


def attach(path):
    """The ledger (or budget) at ``path`` as seen from another process; ``None`` once its block has ended."""
    path = Path(path)
    if not is_open(path):
        return None
    settings = json.loads((path / _SETTINGS).read_text())
    ledger = _KINDS[settings["kind"]](**settings["params"], path=path)
    ledger._key = bytes.fromhex((path / _KEY).read_text())
    return ledger


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

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _KINDS[cls.__name__] = cls

    def __init__(self, path=None):
        self.path = None if path is None else Path(path)
        self._temporary = path is None
        self._key = None
        self._closed_records = None

    def _settings(self):
        """The constructor arguments (but ``path``) that rebuild this ledger in another process."""
        return {}

    # -- the with block ----------------------------------------------------

    def __enter__(self):
        if self.path is None or (self._temporary and self._closed_records is not None):
            self.path = Path(tempfile.mkdtemp(prefix="sk_privattn_ledger_"))
            self._temporary = True
        self.path.mkdir(parents=True, exist_ok=True)
        key_file = self.path / _KEY
        with self.lock():
            if not key_file.exists():
                key_file.write_text(secrets.token_hex(16))
        self._key = bytes.fromhex(key_file.read_text())
        (self.path / _SETTINGS).write_text(json.dumps({"kind": type(self).__name__, "params": self._settings()}))
        (self.path / _OPEN).touch()
        self._closed_records = None
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc_info):
        _ACTIVE.remove(self)
        self._closed_records = self.read(with_rows=True)
        (self.path / _OPEN).unlink(missing_ok=True)
        if self._temporary:
            shutil.rmtree(self.path, ignore_errors=True)
        return False

    # -- records -----------------------------------------------------------

    @property
    def records(self):
        """The records, oldest first: a list of dicts (without the row fingerprints)."""
        return self.read()

    @property
    def key(self):
        """The secret key of the row fingerprints (``None`` before the block starts)."""
        return self._key

    def lock(self):
        """A file lock on the ledger, held while a budget checks and reserves."""
        return FileLock(str(self.path / _LOCK))

    def read(self, with_rows=False):
        """The records, oldest first. With ``with_rows``, each also has ``rows`` (the
        fingerprints of its training rows) and ``row_group`` (the index, in its
        ``groups``, of the mechanism that each row paid)."""
        if self._closed_records is not None:
            records = self._closed_records
        elif self.path is None or not self.path.exists():
            records = []
        else:
            records = self._read_files()
        if with_rows:
            return records
        return [{key: value for key, value in record.items() if key not in ("rows", "row_group")} for record in records]

    def _read_files(self):
        records = []
        for file in self.path.glob("fit-*.json"):
            try:
                record = json.loads(file.read_text())
            except (OSError, json.JSONDecodeError):  # being replaced right now
                continue
            rows_file = file.with_suffix(".npy")
            rows = np.load(rows_file) if rows_file.exists() else np.zeros((2, 0), dtype=np.uint64)
            record["rows"], record["row_group"] = rows[0], rows[1].astype(np.intp)
            records.append(record)
        return sorted(records, key=lambda record: record["started"])

    def write(self, record, rows=None, row_group=None):
        """Write ``record`` atomically (readers never see half a file), with the
        fingerprints of its rows and the group of each row, if given."""
        if not self.path.exists():  # a temporary ledger whose block has ended
            return
        target = self.path / f"fit-{record['id']}.json"
        if rows is not None:
            rows_tmp = self.path / f".fit-{record['id']}.{os.getpid()}.npy"
            group = np.zeros(len(rows), dtype=np.uint64) if row_group is None else np.asarray(row_group, np.uint64)
            np.save(rows_tmp, np.stack([np.asarray(rows, dtype=np.uint64), group]))
            os.replace(rows_tmp, target.with_suffix(".npy"))
        tmp = self.path / f".fit-{record['id']}.{os.getpid()}.json"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, target)

    def check(self, planned, estimator, *, pure_epsilon=0.0, neighbouring=None, partition_delta=0.0):
        """Raise if this ledger refuses a fit of ``estimator`` that will run ``planned``
        (a list with one history per group of rows) after pure-DP releases (its DP
        count) of ``pure_epsilon``, under ``neighbouring``, with ``partition_delta`` of δ
        outside the accountant; a plain ledger never does."""

    def reserve(self, record, rows, row_group, estimator):
        """Write the record of a fit about to train (its planned mechanism, its rows).

        A budget checks it first, under the lock, so that two worker
        processes cannot both spend the last of it.
        """
        self.write(record, rows, row_group)

    def __repr__(self):
        state = "open" if self in _ACTIVE else "closed"
        return f"{type(self).__name__}(path={str(self.path)!r}) [{state}, {len(self.records)} fits]"


_KINDS[PrivacyLedger.__name__] = PrivacyLedger
