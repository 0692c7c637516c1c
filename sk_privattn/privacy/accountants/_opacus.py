"""Opacus' accountants, behind the package's interface: add-or-remove only, and DP-SGD's
(Poisson-subsampled Gaussian) mechanisms only."""

import contextlib
import warnings

import numpy as np
from opacus.accountants import create_accountant

from .._terms import Relation
from ._interface import Accountant, UnsupportedEventError, event_history

__all__ = ["OpacusAccountant", "quiet_accounting"]


@contextlib.contextmanager
def quiet_accounting():
    """Silence numerical chatter of Opacus' accountants that changes no bound.

    PRV's discretisation takes log(1 - q), -inf at q = 1, and sizes its domain
    with an internal RDP bound that warns when its largest order is optimal
    (the domain is then only larger, the ε bound unchanged). At very little
    noise (ε in the thousands, met while calibrating) PRV's sums overflow to
    NaN and RDP's best order is its smallest: the bound is then only looser,
    and calibration treats a failed bound as "too little noise".
    """
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        warnings.filterwarnings("ignore", message="Optimal order is the smallest alpha")
        # Said once per fit, in our words, by the estimators (GDPAccountant.warning).
        warnings.filterwarnings("ignore", message="GDP accounting is experimental")
        yield


class OpacusAccountant(Accountant):
    """One of Opacus' accountants (``mechanism`` of :func:`opacus.accountants.create_accountant`)."""

    relations = frozenset({Relation.ADD_OR_REMOVE})

    def _options(self):
        """Keyword arguments of the Opacus accountant's ``get_epsilon``."""
        return {}

    def _history(self, history):
        """The history that Opacus' accountant is given (a subclass may merge it)."""
        return history

    def supports(self, event, relation):
        if not super().supports(event, relation):
            return False
        try:
            event_history(event)
        except UnsupportedEventError:
            return False
        return True

    def epsilon(self, event, delta, relation):
        self.check(event, relation)
        history = self._history(event_history(event))
        with quiet_accounting():
            engine = create_accountant(mechanism=self.name)
            engine.history = list(history)
            return float(engine.get_epsilon(delta=delta, **self._options()))
