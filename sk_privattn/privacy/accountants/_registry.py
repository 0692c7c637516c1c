"""The registry of accountants: the only list of them (see :mod:`sk_privattn.privacy.accountants`)."""

from sklearn.utils._param_validation import StrOptions

from .._terms import Relation
from ._interface import Accountant, history_event

__all__ = [
    "AUTO",
    "DPSGD_STEP",
    "AccountantOptions",
    "accountant_names",
    "get_accountant",
    "register_accountant",
    "resolve_accountant",
]

#: What ``accountant="auto"`` resolves to, under every relation.
AUTO = "pld"

#: A step of DP-SGD, the mechanism that an accountant of a fit must account: whether an
#: accountant accounts a relation is whether it supports this event under it.
DPSGD_STEP = history_event([(1.0, 0.5, 1)])

_REGISTRY = {}


def register_accountant(accountant_class):
    """Register ``accountant_class`` (an :class:`Accountant` subclass) under its ``name``.

    Usable as a class decorator; a name registered again is replaced.

    Returns
    -------
    accountant_class
    """
    if not (isinstance(accountant_class, type) and issubclass(accountant_class, Accountant)):
        raise TypeError(f"register_accountant takes an Accountant subclass; got {accountant_class!r}.")
    if accountant_class.name == "auto":
        raise ValueError("'auto' is not a name an accountant may take: it names the default accountant.")
    _REGISTRY[accountant_class.name] = accountant_class
    return accountant_class


def accountant_names(relation=None, *, bounds=False, composing=False):
    """The registered accountants' names, in order of registration.

    Parameters
    ----------
    relation : Relation or str, default=None
        Only those that account this relation.
    bounds : bool, default=False
        Only those whose ε is an upper bound.
    composing : bool, default=False
        Only those that compose different mechanisms.

    Examples
    --------
    >>> from sk_privattn.privacy.accountants import accountant_names
    >>> accountant_names()
    ('pld', 'prv', 'rdp', 'gdp')
    >>> accountant_names("replace_one")
    ('pld',)
    """
    return tuple(
        name for name, cls in _REGISTRY.items()
        if (relation is None or _accounts(cls(), relation))
        and (cls.is_bound or not bounds)
        and (cls.composes or not composing)
    )


def _accounts(accountant, relation):
    """Whether ``accountant`` accounts DP-SGD's mechanism under ``relation``."""
    return accountant.supports(DPSGD_STEP, relation)


def get_accountant(name):
    """The registered accountant ``name`` (an instance); "auto" is :data:`AUTO`."""
    name = AUTO if name == "auto" else name
    if name not in _REGISTRY:
        raise ValueError(f"accountant={name!r} is not registered; use 'auto' or one of {accountant_names()}.")
    return _REGISTRY[name]()


def resolve_accountant(accountant, relation):
    """The accountant that ``accountant`` names under ``relation``; "auto" is "pld",
    dp_accounting's privacy-loss distributions, under both relations: the only one here
    that computes a replace-one ε, and under add-or-remove as tight as Opacus' "prv" and
    two to three times faster (docs/privacy.md).

    Raises
    ------
    ValueError
        For an accountant that is not registered, or that cannot account ``relation``.

    Examples
    --------
    >>> from sk_privattn.privacy import resolve_accountant
    >>> resolve_accountant("auto", "add_or_remove"), resolve_accountant("prv", "add_or_remove")
    ('pld', 'prv')
    """
    accountant = get_accountant(accountant)
    if not _accounts(accountant, relation):
        others = ", ".join(repr(name) for name in accountant_names(relation))
        computes = [str(other) for other in Relation if _accounts(accountant, other)]
        raise ValueError(
            f"accountant={accountant.name!r} cannot account neighbouring={str(relation)!r}: it computes the "
            f"{' and '.join(computes) or 'no'} ε of DP-SGD only. Use accountant='auto' or one that accounts "
            f"neighbouring={str(relation)!r}: {others}."
        )
    return accountant.name


class AccountantOptions(StrOptions):
    """The constraint of an ``accountant`` parameter: "auto" or a registered name, read from
    the registry when a value is checked (so an accountant registered later is accepted).

    With ``bounds=True``, only accountants whose ε is an upper bound (a budget is charged by
    them); with ``composing=True``, only those that compose different mechanisms.
    """

    def __init__(self, *, bounds=False, composing=False):
        self.bounds = bounds
        self.composing = composing
        super().__init__(set())

    @property
    def options(self):
        return {"auto", *accountant_names(bounds=self.bounds, composing=self.composing)}

    @options.setter
    def options(self, value):
        pass  # StrOptions.__init__ sets it; the registry is the only source.
