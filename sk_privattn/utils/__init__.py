"""Helpers that several parts of the package share: the shared docstrings of the parameters
(whose accountant entries read the registry of :mod:`sk_privattn.privacy.accountants`), and
where a warning points."""
