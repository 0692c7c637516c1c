"""Warnings and exceptions raised by sk_privattn."""

import warnings

__all__ = ["PrivacyLeakWarning", "BudgetExceededError", "JobPendingError", "JobRefusedError"]


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


class JobRefusedError(ValueError):
    """A data owner refused a remote job (:mod:`sk_privattn.remote`).

    Raised by the scientist's ``RemoteJob.result()`` with the owner's
    message, and by ``DataScientist.submit`` for a request that the owner
    would refuse. The message depends on the request and the owner's
    budgets only, never on the private rows: it says which parameter, which
    term or how much budget, and how to continue.
    """


class JobPendingError(RuntimeError):
    """A remote job has no result yet: the data owner has not reviewed it.

    Raised by ``RemoteJob.result()``; call it again once the owner has run
    ``DataOwner.review()``.
    """


warnings.simplefilter("always", PrivacyLeakWarning)
