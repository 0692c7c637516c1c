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
    """A differentially private fit would exceed the privacy budget."""


warnings.simplefilter("always", PrivacyLeakWarning)
