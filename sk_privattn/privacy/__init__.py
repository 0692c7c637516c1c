"""Everything an ε depends on, each concept in one home.

- :mod:`._terms`: the neighbouring relations and the units (:class:`Relation`,
  :class:`Unit`, :class:`Neighbouring`), defined once.
- :mod:`._count`: the count that a plan reads, public (:class:`PublicCount`) or
  released with DP (:class:`DPCount`, :func:`release_count`).
- :mod:`._metadata`: the DP releases of bounds, categories and classes.
- :mod:`.accountants`: the registry of accountants, one module each behind one
  interface that takes ``dp_accounting`` events.
- :mod:`._calibration`: ε of DP-SGD's mechanisms, noise calibration, the
  default δ, and composition across fits.
- :mod:`._plan`: the :class:`Plan` interface and :class:`TrainingPlan`, the one
  source of a fit's count, steps, sample rate, noise and δ.
- :mod:`.ledger`, :mod:`.budget`, :mod:`sk_privattn.privacy._recording`: where fits are recorded,
  and the budgets that refuse them.

The training mechanism itself (Poisson sampling, clipping, noise) is in
:mod:`sk_privattn.dpsgd`, which reads a plan and imports nothing of the
estimators. See docs/architecture.md.
"""

from ._calibration import (
    DEFAULT_DELTA,
    calibrate_noise_multiplier,
    compose_worst_row,
    compute_epsilon,
    default_delta,
    history_rdp,
)
from ._count import (
    COUNT_EPSILON_SHARE,
    MIN_DP_COUNT,
    DPCount,
    PublicCount,
    count_source,
    release_count,
    resolve_count,
)
from ._plan import Plan, TrainingPlan, plan_training, resolve_batch_size, resolve_epochs
from ._terms import RELATIONS, UNITS, Neighbouring, Relation, Unit, record_neighbouring
from .accountants import (
    AUTO,
    Accountant,
    UnsupportedEventError,
    accountant_names,
    get_accountant,
    register_accountant,
    resolve_accountant,
)
from .accountants._opacus import quiet_accounting
from .accountants.gdp import GDP_WARNING
from .accountants.pld import PLD_VALUE_DISCRETIZATION
from .accountants.rdp import RDP_ORDERS
# Documented where they are public, as sk_privattn.PrivacyBudget and sk_privattn.PrivacyLedger.
from .budget import PrivacyBudget  # noqa: F401
from .ledger import PrivacyLedger  # noqa: F401

#: The accountants that ship with the package (the registry, :func:`accountant_names`,
#: also lists those registered later).
ACCOUNTANTS = accountant_names()

__all__ = [
    "ACCOUNTANTS",
    "AUTO",
    "COUNT_EPSILON_SHARE",
    "DEFAULT_DELTA",
    "DPCount",
    "GDP_WARNING",
    "MIN_DP_COUNT",
    "Accountant",
    "Neighbouring",
    "PLD_VALUE_DISCRETIZATION",
    "Plan",
    "PublicCount",
    "RDP_ORDERS",
    "RELATIONS",
    "Relation",
    "TrainingPlan",
    "UNITS",
    "Unit",
    "UnsupportedEventError",
    "accountant_names",
    "calibrate_noise_multiplier",
    "compose_worst_row",
    "compute_epsilon",
    "count_source",
    "default_delta",
    "get_accountant",
    "history_rdp",
    "plan_training",
    "quiet_accounting",
    "record_neighbouring",
    "register_accountant",
    "release_count",
    "resolve_accountant",
    "resolve_batch_size",
    "resolve_count",
    "resolve_epochs",
]
