"""A privacy budget: a total (ε, δ) that a series of DP fits may not exceed."""

import math

from .exceptions import BudgetExceededError
from .ledger import PrivacyLedger
from .privacy import ACCOUNTANTS, compose_worst_row

__all__ = ["PrivacyBudget"]


class PrivacyBudget(PrivacyLedger):
    """A total (ε, δ) that the DP fits run inside a ``with`` block may not exceed.

    Before a fit reads any training data, the budget computes the mechanism
    that the fit will run (from its parameters and the number of rows only)
    and composes it with everything spent so far in the block. A fit that
    would take the total over ``epsilon`` raises
    :class:`~sk_privattn.exceptions.BudgetExceededError`. A fit that fails
    part-way still counts what it spent: the steps it took.

    The total is ε for adding or removing one row: the row that would pay
    most if every fit in the block had trained on it (the budget cannot know
    more before it reads the data). For the per-row cost of a search, see
    :func:`~sk_privattn.privacy_report`. A fit whose rows pay different
    mechanisms (the sites of a federation) is charged, at each Rényi order,
    its dearest one; the total is then an RDP bound (see
    :func:`~sk_privattn.privacy.compose_worst_row`). A budget is a
    :class:`~sk_privattn.PrivacyLedger`, so it reaches joblib worker
    processes too, and a check and its reservation happen under a file lock.

    Parameters
    ----------
    epsilon : float
        The total ε, > 0.
    delta : float
        The δ at which the total is composed, in (0, 1).
    accountant : {"prv", "rdp"}, default="prv"
        The accountant that composes the fits.
    path : str or path-like, default=None
        As for :class:`~sk_privattn.PrivacyLedger`.

    Attributes
    ----------
    spent_epsilon : float
        ε spent so far, composed at ``delta``.
    remaining_epsilon : float
        ``epsilon - spent_epsilon``.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn import BudgetExceededError, DPAttentionClassifier, PrivacyBudget
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(200, 3))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = DPAttentionClassifier(epsilon=1.0, delta=1e-4, bounds=(-1, 1), classes=[0, 1], max_epochs=1,
    ...                             d_token=8, n_heads=2, n_layers=1, random_state=0)
    >>> with PrivacyBudget(epsilon=1.2, delta=1e-4) as budget:
    ...     _ = clf.fit(X, y)
    ...     try:
    ...         clf.fit(X, y)
    ...     except BudgetExceededError:
    ...         print("refused")
    refused
    >>> budget.spent_epsilon <= 1.0
    True
    """

    is_budget = True

    def __init__(self, epsilon, delta, *, accountant="prv", path=None):
        if not (isinstance(epsilon, (int, float)) and 0 < epsilon < math.inf):
            raise ValueError(f"epsilon={epsilon!r} must be a finite number > 0, the total ε of the budget.")
        if not (isinstance(delta, (int, float)) and 0 < delta < 1):
            raise ValueError(f"delta={delta!r} must be a number in (0, 1), e.g. delta=1e-5.")
        if accountant not in ACCOUNTANTS or accountant == "gdp":
            raise ValueError(
                f"accountant={accountant!r} cannot compose the fits of a budget; use 'prv' or 'rdp'."
            )
        super().__init__(path)
        self.epsilon = float(epsilon)
        self.delta = float(delta)
        self.accountant = accountant

    def _settings(self):
        return {"epsilon": self.epsilon, "delta": self.delta, "accountant": self.accountant}

    def _spent(self, exclude=None):
        """The groups of every fit recorded so far (but ``exclude``)."""
        return [record["groups"] for record in self.read() if record["id"] != exclude]

    def _total(self, fits):
        return compose_worst_row(fits, self.delta, self.accountant)

    @property
    def spent_epsilon(self):
        return self._total(self._spent())

    @property
    def remaining_epsilon(self):
        return self.epsilon - self.spent_epsilon

    def check(self, planned, estimator, exclude=None):
        spent = self._spent(exclude)
        total = self._total([*spent, planned])
        if total <= self.epsilon:
            return
        before = self._total(spent)
        alone = self._total([planned])
        raise BudgetExceededError(
            f"This fit of {type(estimator).__name__}(epsilon={estimator.epsilon}) would spend "
            f"ε={alone:.4g} (at δ={self.delta:g}), and composed with the ε={before:.4g} already "
            f"spent it would bring the total to ε={total:.4g}, over the budget of "
            f"ε={self.epsilon:g}. Remaining budget: ε={self.epsilon - before:.4g}. Lower the fit's "
            "epsilon (or its max_epochs), or start a new budget if this is new data."
        )

    def reserve(self, record, rows, row_group, estimator):
        with self.lock():
            self.check(record["groups"], estimator, exclude=record["id"])
            self.write(record, rows, row_group)

    def __repr__(self):
        return (
            f"PrivacyBudget(epsilon={self.epsilon:g}, delta={self.delta:g}) "
            f"[spent ε={self.spent_epsilon:.4g}, {len(self.records)} fits]"
        )
