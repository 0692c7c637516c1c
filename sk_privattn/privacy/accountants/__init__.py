"""The accountants: a registry, and one module per accountant behind one interface.

As in Opacus (``opacus/accountants/registry.py``), the registry is the only
list of accountants: the estimators' ``accountant`` parameter, its
documentation, :class:`~sk_privattn.PrivacyBudget`, :func:`~sk_privattn.privacy_report`
and the remote owner's checks all read it. Registering a new accountant takes
one class::

    @register_accountant
    class MyAccountant(Accountant):
        name = "mine"
        relations = frozenset({Relation.ADD_OR_REMOVE})

        def epsilon(self, event, delta, relation):
            ...

The built-in ones are "pld" (dp_accounting, both relations; what "auto"
resolves to), "prv" and "rdp" (Opacus, add-or-remove), and "gdp" (Opacus'
central-limit approximation, not a bound).
"""

from ._interface import Accountant, UnsupportedEventError, event_history, history_event
from ._registry import (
    AUTO,
    DPSGD_STEP,
    AccountantOptions,
    accountant_names,
    get_accountant,
    register_accountant,
    resolve_accountant,
)

__all__ = [
    "AUTO",
    "DPSGD_STEP",
    "Accountant",
    "AccountantOptions",
    "UnsupportedEventError",
    "accountant_names",
    "event_history",
    "get_accountant",
    "history_event",
    "register_accountant",
    "resolve_accountant",
]

# The built-in accountants register themselves, in this order (the order of accountant_names()).
from . import pld  # noqa: E402,F401,I001
from . import prv  # noqa: E402,F401
from . import rdp  # noqa: E402,F401
from . import gdp  # noqa: E402,F401
