"""``accountant="pld"``: Google's dp_accounting privacy-loss distributions, under both relations.

The only accountant here that computes a replace-one ε; under add-or-remove as
tight as Opacus' "prv", and two to three times faster. The "auto" accountant.
"""

import dp_accounting
from dp_accounting.pld import pld_privacy_accountant

from .._terms import Relation
from ._registry import register_accountant
from ._interface import Accountant

__all__ = ["PLD_VALUE_DISCRETIZATION", "PLDAccountant"]

#: dp_accounting's PLD discretisation of the privacy loss. Its default
#: pessimistic estimate makes every ε an upper bound; 1e-3 is within 0.2 % of
#: 1e-4 on the default plans, and ten times faster.
PLD_VALUE_DISCRETIZATION = 1e-3


@register_accountant
class PLDAccountant(Accountant):
    """dp_accounting's PLD accountant (a pessimistic upper bound), for any event it supports."""

    name = "pld"
    relations = frozenset(Relation)
    summary = (
        "Google's dp_accounting privacy-loss distributions (a pessimistic upper bound): the only one that "
        "computes a replace-one ε, and under add-or-remove as tight as Opacus' \"prv\" and two to three "
        "times faster"
    )

    def _engine(self, relation):
        return pld_privacy_accountant.PLDAccountant(
            neighboring_relation=Relation(relation).dp_accounting,
            value_discretization_interval=PLD_VALUE_DISCRETIZATION,
        )

    def supports(self, event, relation):
        return super().supports(event, relation) and self._engine(relation).supports(event)

    def epsilon(self, event, delta, relation):
        engine = self._engine(relation)
        if isinstance(event, dp_accounting.ComposedDpEvent):
            # Entry by entry, as the accountant composes a ComposedDpEvent.
            for inner in event.events:
                engine.compose(inner)
        else:
            engine.compose(event)
        return float(engine.get_epsilon(delta))
