"""``sk_privattn.budget``: the public import path of :class:`~sk_privattn.PrivacyBudget`, which
lives in :mod:`sk_privattn.privacy.budget`."""

from .privacy.budget import PrivacyBudget

__all__ = ["PrivacyBudget"]
