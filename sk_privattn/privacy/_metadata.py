"""The DP releases of the metadata that training needs: bounds, categories and classes.

The home of the private-by-default mechanisms (issue 34): where the user gives
no public bounds, categories or classes, they are released here with DP, from
a documented part of the budget, as ``dp_accounting`` events that the fit's
accountant composes with its count and DP-SGD. Until then the estimators read
them from the data only with a :class:`~sk_privattn.PrivacyLeakWarning`.
"""

__all__ = []
