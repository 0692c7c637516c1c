"""``sk_privattn.ledger``: the public import path of :class:`~sk_privattn.PrivacyLedger`, which
lives in :mod:`sk_privattn.privacy.ledger`."""

from .privacy.ledger import PrivacyLedger, attach, is_open, open_ledgers

__all__ = ["PrivacyLedger", "attach", "is_open", "open_ledgers"]
