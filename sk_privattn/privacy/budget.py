"""A privacy budget: a total (ε, δ) that a series of DP fits may not exceed."""

import math
import os
from numbers import Real

from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ..exceptions import BudgetExceededError
from ._calibration import compose_worst_row
from ._terms import RELATIONS, Neighbouring, Relation, Unit, record_neighbouring
from .accountants import AccountantOptions, resolve_accountant
from ..utils._docs import shared_docstring
from .ledger import PrivacyLedger

__all__ = ["PrivacyBudget"]


@shared_docstring
class PrivacyBudget(PrivacyLedger):
    """A total (ε, δ) that the DP fits run inside a ``with`` block may not exceed.

    Before a fit reads any training data, the budget computes the mechanism
    that the fit will run (from its parameters and the number of rows only)
    and composes it with everything spent so far in the block. A fit that
    would take the total over ``epsilon`` raises
    :class:`~sk_privattn.exceptions.BudgetExceededError`. A fit that fails
    part-way still counts what it spent: the steps it took.

    The total is ε under the budget's ``neighbouring`` relation, for the row
    that would pay most if every fit in the block had trained on it (the
    budget cannot know more before it reads the data); a fit under another
    relation is refused. The pure ε of each fit's DP count of its rows adds
    to the total, and a fit that the budget refuses after its count was
    released still spent it. For the per-row cost of a search, see
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
    neighbouring : {"add_or_remove", "replace_one"}, default="add_or_remove"
        The relation of the total; every fit in the block must state it.
    unit : {"row", "person"}, default="row"
        What the total protects: a row, or a person (every fit in the block
        then passes ``person_id``).
    {composing accountant}
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
    >>> [record["status"] for record in budget.records]   # the refused fit spent its DP count of the rows
    ['complete', 'refused']
    >>> budget.spent_epsilon <= 1.0 + 0.02
    True
    """

    is_budget = True

    @validate_params(
        {
            "epsilon": [Interval(Real, 0, math.inf, closed="neither")],
            "delta": [Interval(Real, 0, 1, closed="neither")],
            "neighbouring": [StrOptions(set(RELATIONS))],
            "unit": [StrOptions({Unit.ROW.value, Unit.PERSON.value})],
            "accountant": [AccountantOptions(bounds=True, composing=True)],
            "path": [str, os.PathLike, None],
        },
        prefer_skip_nested_validation=True,
    )
    def __init__(self, epsilon, delta, *, neighbouring="add_or_remove", unit="row", accountant="auto", path=None):
        super().__init__(path)
        self.epsilon = float(epsilon)
        self.delta = float(delta)
        self.neighbouring = neighbouring
        self.unit = unit
        self.accountant = resolve_accountant(accountant, neighbouring)

    def _settings(self):
        return {"epsilon": self.epsilon, "delta": self.delta, "neighbouring": self.neighbouring, "unit": self.unit,
                "accountant": self.accountant}

    def _spent(self, exclude=None):
        """The groups, the pure ε and the partition δ of every fit recorded so far (but ``exclude``)."""
        return [(record["groups"], record.get("pure_epsilon", 0.0), record.get("partition_delta", 0.0))
                for record in self.read() if record["id"] != exclude]

    def _total(self, fits):
        """ε of ``fits`` composed at ``delta``: what their partition selections add to δ comes out of it."""
        delta = self.delta - sum(partition for _, _, partition in fits)
        if delta <= 0:
            return math.inf
        return compose_worst_row([groups for groups, _, _ in fits], delta, self.accountant, self.neighbouring,
                                 pure_epsilons=[pure for _, pure, _ in fits])

    @property
    def spent_epsilon(self):
        return self._total(self._spent())

    @property
    def remaining_epsilon(self):
        return self.epsilon - self.spent_epsilon

    def check(self, planned, estimator, *, pure_epsilon=0.0, neighbouring=Neighbouring(Relation.ADD_OR_REMOVE),
              exclude=None, partition_delta=0.0):
        Neighbouring(self.neighbouring, self.unit).check_same(
            neighbouring, f"This PrivacyBudget and a fit of {type(estimator).__name__} inside it"
        )
        spent = self._spent(exclude)
        fit = (planned, pure_epsilon, partition_delta)
        total = self._total([*spent, fit])
        if total <= self.epsilon:
            return
        before = self._total(spent)
        alone = self._total([fit])
        raise BudgetExceededError(
            f"This fit of {type(estimator).__name__}(epsilon={estimator.epsilon}) would spend "
            f"ε={alone:.4g} (at δ={self.delta:g}), and composed with the ε={before:.4g} already "
            f"spent it would bring the total to ε={total:.4g}, over the budget of "
            f"ε={self.epsilon:g}. Remaining budget: ε={self.epsilon - before:.4g}. Lower the fit's "
            "epsilon (or its max_epochs), or start a new budget if this is new data."
        )

    def reserve(self, record, rows, row_group, estimator):
        with self.lock():
            self.check(record["groups"], estimator, pure_epsilon=record.get("pure_epsilon", 0.0),
                       neighbouring=record_neighbouring(record), exclude=record["id"],
                       partition_delta=record.get("partition_delta", 0.0))
            self.write(record, rows, row_group)

    def __repr__(self):
        return (
            f"PrivacyBudget(epsilon={self.epsilon:g}, delta={self.delta:g}, neighbouring={self.neighbouring!r}, "
            f"unit={self.unit!r}) "
            f"[spent ε={self.spent_epsilon:.4g}, {len(self.records)} fits]"
        )
