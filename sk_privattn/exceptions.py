"""Warnings and exceptions raised by sk_privattn."""

import warnings

__all__ = ["PrivacyLeakWarning", "BudgetExceededError"]


class PrivacyLeakWarning(RuntimeWarning):
    """Training data was used outside the accounted DP-SGD mechanism.

    The message says what leaked and which parameter prevents it. The filter
    for this class is set to ``"always"`` when :mod:`sk_privattn` is imported,
    so it is shown every time, not only once per call site.
    """


class BudgetExceededError(ValueError):
    """A differentially private fit would exceed the privacy budget.

    Raised by ``fit`` with ``warm_start=True`` when the earlier calls have
    spent (almost) all of ``epsilon``, the budget of the model over all its
    calls; and by ``fit`` inside a :class:`~sk_privattn.PrivacyBudget` block
    when the fit would take the block's total over the budget, before the
    fit reads any data. The message says what was spent, what remains, and
    how to continue.
    """


warnings.simplefilter("always", PrivacyLeakWarning)
