"""The data owner's budgets: an ε per scientist and per dataset, kept in one JSON file.

Every job that the owner runs spends an (ε, δ) on one dataset for one
scientist: what the fit's accountant reported (``epsilon_``, ``delta_``).
The jobs of a scientist on a dataset compose by *basic composition*: their ε
add up and so do their δ (Dwork & Roth 2014, Theorem 3.16), so k jobs at
the owner's δ spend ``(sum of their ε, k δ)``. A job is refused when its
*requested* ε, added to what was spent, would exceed the budget: a decision
from the ledger and the request alone, taken before any row is read.

Basic composition, rather than the accountant composition of
:class:`~sk_privattn.PrivacyBudget`, because that budget decides from the
fit's plan, which under add-or-remove reads a DP count of the rows (a refusal
would then depend on the private data, and spend), and because a
:class:`~sk_privattn.model_selection.PrivateRandomSearch` spends an RDP bound
of the whole search, which its mechanisms composed one by one do not give.

The file persists across sessions: an owner that opens it again (after a
restart, in another process) sees what was spent, and which scientists'
jobs are held (:meth:`BudgetLedger.hold`): after a fit of theirs failed
once it had read the rows, until the owner releases them. A file lock makes a check
and its reservation one step, and every write replaces the file atomically.
"""

import json
import math
import os
import time
from pathlib import Path

from filelock import FileLock

from ..privacy import Neighbouring
from ..exceptions import BudgetExceededError

__all__ = ["BudgetLedger"]

_FORMAT = "sk_privattn-remote-budgets"
_VERSION = 1
#: Float slack when comparing a total of ε with a budget.
_TOLERANCE = 1e-9


class BudgetLedger:
    """Budgets of ε per scientist and per dataset, spent by basic composition, in a JSON file.

    Parameters
    ----------
    path : str or path-like
        The JSON file; created on first use, and read again by a ledger
        opened later on the same path.
    epsilon : float
        The budget of every scientist on every dataset, > 0.
    delta : float
        The δ of every job, in (0, 1). It is written in the file when the
        file is created; a ledger opened later must state the same.
    neighbouring : {"add_or_remove", "replace_one"}, default="add_or_remove"
        The relation of every ε in the ledger, written in the file likewise.

    Examples
    --------
    >>> import os, tempfile
    >>> from sk_privattn.remote import BudgetLedger
    >>> path = os.path.join(tempfile.mkdtemp(), "budgets.json")
    >>> ledger = BudgetLedger(path, epsilon=2.0, delta=1e-5)
    >>> ledger.reserve("alice@uni.edu", "adult", "job-1", 1.0, "DPAttentionClassifier")
    >>> ledger.settle("alice@uni.edu", "adult", "job-1", epsilon=0.98, delta=1e-5)
    >>> BudgetLedger(path, epsilon=2.0, delta=1e-5).remaining_epsilon("alice@uni.edu", "adult")
    1.02
    >>> BudgetLedger(path, epsilon=2.0, delta=1e-5).remaining_epsilon("bob@uni.edu", "adult")
    2.0
    """

    def __init__(self, path, *, epsilon, delta, neighbouring="add_or_remove"):
        if not (isinstance(epsilon, (int, float)) and 0 < epsilon < math.inf):
            raise ValueError(f"epsilon={epsilon!r} must be a finite number > 0: the budget of each scientist.")
        if not (isinstance(delta, float) and 0 < delta < 1):
            raise ValueError(f"delta={delta!r} must be a float in (0, 1), e.g. delta=1e-5.")
        self.path = Path(path)
        self.epsilon = float(epsilon)
        self.delta = float(delta)
        self.neighbouring = Neighbouring(neighbouring)
        self._lock = FileLock(str(self.path) + ".lock")
        with self._lock:
            document = self._read()
            if document is None:
                self._write({"format": _FORMAT, "version": _VERSION, "delta": self.delta,
                             "neighbouring": self.neighbouring.relation, "unit": self.neighbouring.unit,
                             "accounts": {}})
            else:
                self._check_terms(document)

    # -- the file ------------------------------------------------------------

    def _read(self):
        if not self.path.exists():
            return None
        document = json.loads(self.path.read_text())
        if document.get("format") != _FORMAT or document.get("version") != _VERSION:
            raise ValueError(f"{self.path} is not a budget ledger of sk_privattn.remote (version {_VERSION}).")
        return document

    def _write(self, document):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(document, indent=1))
        os.replace(temporary, self.path)

    def _check_terms(self, document):
        Neighbouring(document["neighbouring"], document["unit"]).check_same(
            self.neighbouring, f"The budget ledger {self.path} and this owner"
        )
        if document["delta"] != self.delta:
            raise ValueError(
                f"The budget ledger {self.path} composes jobs at delta={document['delta']:g}, but this owner "
                f"states delta={self.delta:g}; ε at different δ do not add up. Open it with "
                f"delta={document['delta']:g}, or start a new ledger."
            )

    # -- reading -------------------------------------------------------------

    def jobs(self, scientist, dataset):
        """The entries of ``scientist``'s jobs on ``dataset``, oldest first (a list of dicts)."""
        document = self._read() or {"accounts": {}}
        return list(document["accounts"].get(scientist, {}).get(dataset, []))

    def spent(self, scientist, dataset):
        """``(ε, δ)`` that ``scientist`` has spent on ``dataset``, by basic composition."""
        jobs = self.jobs(scientist, dataset)
        return sum(job["epsilon"] for job in jobs), sum(job["delta"] for job in jobs)

    def remaining_epsilon(self, scientist, dataset):
        """The ε left to ``scientist`` on ``dataset``."""
        return round(self.epsilon - self.spent(scientist, dataset)[0], 12)

    def has_job(self, scientist, dataset, job):
        """Whether the job named ``job`` was already charged."""
        return any(entry["job"] == job for entry in self.jobs(scientist, dataset))

    # -- spending ------------------------------------------------------------

    def check(self, scientist, dataset, requested_epsilon):
        """Raise :class:`~sk_privattn.exceptions.BudgetExceededError` if a job that asks for
        ``requested_epsilon`` would take ``scientist`` over the budget on ``dataset``.

        The message depends on the ledger and the request only.
        """
        spent, _ = self.spent(scientist, dataset)
        if spent + requested_epsilon <= self.epsilon + _TOLERANCE:
            return
        left = max(0.0, self.epsilon - spent)
        raise BudgetExceededError(
            f"This job asks for ε={requested_epsilon:.4g} on dataset {dataset!r} (at δ={self.delta:g}, "
            f"{self.neighbouring.describe()}), but {scientist} has spent ε={spent:.4g} of a budget of "
            f"ε={self.epsilon:g} there (basic composition of the jobs run), so ε={left:.4g} remains. Ask for "
            "at most that, or ask the data owner for a larger budget. Nothing was run."
        )

    def reserve(self, scientist, dataset, job, requested_epsilon, estimator):
        """Check, then charge ``requested_epsilon`` to the job before it reads any row.

        :meth:`settle` replaces the charge by what the fit spent; a fit that
        never settles (its process died) stays charged what it asked for.
        """
        with self._lock:
            if self.has_job(scientist, dataset, job):
                raise ValueError(f"The job {job!r} of {scientist} on {dataset!r} was already charged.")
            self.check(scientist, dataset, requested_epsilon)
            document = self._read()
            entry = {"job": job, "estimator": estimator, "requested_epsilon": float(requested_epsilon),
                     "epsilon": float(requested_epsilon), "delta": self.delta, "status": "running",
                     "time": time.time()}
            document["accounts"].setdefault(scientist, {}).setdefault(dataset, []).append(entry)
            self._write(document)

    def settle(self, scientist, dataset, job, *, epsilon, delta, status="complete"):
        """Charge the job what it spent: the (ε, δ) of its accountant."""
        with self._lock:
            document = self._read()
            for entry in document["accounts"][scientist][dataset]:
                if entry["job"] == job:
                    entry.update(epsilon=float(epsilon), delta=float(delta), status=status)
            self._write(document)

    # -- holds ---------------------------------------------------------------

    def hold(self, scientist, dataset, job):
        """Hold ``scientist``'s further jobs, on every dataset: their ``job`` on ``dataset`` failed
        after it read the private rows. That it failed may depend on the rows: holding every
        later job until the owner has looked at it keeps that channel to one bit."""
        with self._lock:
            document = self._read()
            document.setdefault("held", {})[scientist] = {"dataset": dataset, "job": job, "time": time.time()}
            self._write(document)

    def held(self, scientist):
        """The failed job that holds ``scientist``'s jobs (a dict of ``dataset``, ``job``,
        ``time``), or ``None`` when they are not held."""
        return (self._read() or {}).get("held", {}).get(scientist)

    def release(self, scientist):
        """Release ``scientist``'s jobs; raise if they are not held."""
        with self._lock:
            document = self._read()
            if scientist not in document.get("held", {}):
                raise ValueError(f"The jobs of {scientist} are not held; there is nothing to release.")
            del document["held"][scientist]
            self._write(document)

    def __repr__(self):
        return (f"BudgetLedger({str(self.path)!r}, epsilon={self.epsilon:g}, delta={self.delta:g}, "
                f"neighbouring={self.neighbouring.relation!r})")
