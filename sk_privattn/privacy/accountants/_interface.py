"""The interface of an accountant: an ε from ``dp_accounting`` events, under a relation.

Every mechanism of a fit is a ``dp_accounting`` event: DP-SGD's steps are
Poisson-subsampled Gaussian mechanisms (:func:`history_event`), and later
releases (a DP count, DP metadata) are events of their own, so that one
accountant can compose all of them. An accountant says which relations it
can account (:attr:`Accountant.relations`) and which events
(:meth:`Accountant.supports`); whether its ε is a bound
(:attr:`Accountant.is_bound`); and whether it composes mechanisms that
differ (:attr:`Accountant.composes`), which warm starts, ledgers and budgets
need.
"""

from abc import ABC, abstractmethod
from typing import ClassVar

import dp_accounting

__all__ = ["Accountant", "UnsupportedEventError", "event_history", "history_event"]


class UnsupportedEventError(ValueError):
    """An accountant was given an event, or a relation, that it cannot account."""


def history_event(history):
    """The ``dp_accounting`` event of an Opacus accountant history.

    Each entry ``(noise_multiplier, sample_rate, steps)`` is ``steps``
    Gaussian mechanisms of noise multiplier ``noise_multiplier`` (sensitivity
    1, the clipping bound), each on a Poisson sample at ``sample_rate`` (no
    sampling at rate 1).

    Examples
    --------
    >>> from sk_privattn.privacy.accountants import history_event
    >>> history_event([(1.0, 0.01, 100)]).events[0].count
    100
    """
    events = []
    for noise_multiplier, sample_rate, steps in history:
        step = dp_accounting.GaussianDpEvent(float(noise_multiplier))
        if sample_rate < 1.0:
            step = dp_accounting.PoissonSampledDpEvent(float(sample_rate), step)
        events.append(dp_accounting.SelfComposedDpEvent(step, int(steps)))
    return dp_accounting.ComposedDpEvent(events)


def event_history(event):
    """The Opacus accountant history of ``event``, the inverse of :func:`history_event`.

    Raises
    ------
    UnsupportedEventError
        For an event that is not a composition of (Poisson-subsampled) Gaussian
        mechanisms.
    """
    if isinstance(event, dp_accounting.ComposedDpEvent):
        return [entry for inner in event.events for entry in event_history(inner)]
    if isinstance(event, dp_accounting.SelfComposedDpEvent):
        return [(noise, rate, steps * event.count) for noise, rate, steps in event_history(event.event)]
    if isinstance(event, dp_accounting.PoissonSampledDpEvent) and isinstance(event.event, dp_accounting.GaussianDpEvent):
        return [(float(event.event.noise_multiplier), float(event.sampling_probability), 1)]
    if isinstance(event, dp_accounting.GaussianDpEvent):
        return [(float(event.noise_multiplier), 1.0, 1)]
    raise UnsupportedEventError(
        f"{type(event).__name__} is not a (Poisson-subsampled) Gaussian mechanism, which is all that "
        "Opacus' accountants compose; use accountant='pld' (dp_accounting)."
    )


class Accountant(ABC):
    """An accountant, registered by its :attr:`name` (see :func:`register_accountant`).

    Subclasses set the class attributes and implement :meth:`epsilon`.

    Attributes
    ----------
    name : str
        What ``accountant=`` names it by.
    relations : frozenset of Relation
        The neighbouring relations it accounts.
    is_bound : bool
        Whether its ε is an upper bound. An approximation ("gdp") may be used
        to fit, with its :attr:`warning`, but never to charge a budget.
    composes : bool
        Whether it composes mechanisms that differ (the calls of a warm
        start, the fits of a budget).
    bounded_by : str or None
        For an accountant that is not a bound, the accountant whose ε a
        ledger records for its fits.
    warning : str or None
        What a fit that uses it says, once.
    summary : str
        One line for the documentation of ``accountant``.
    """

    name: ClassVar[str]
    relations: ClassVar[frozenset]
    is_bound: ClassVar[bool] = True
    composes: ClassVar[bool] = True
    bounded_by: ClassVar[str] = None
    warning: ClassVar[str] = None
    summary: ClassVar[str] = ""

    def supports(self, event, relation):
        """Whether this accountant can account ``event`` under ``relation``."""
        return relation in self.relations

    @abstractmethod
    def epsilon(self, event, delta, relation):
        """The ε of ``event`` at ``delta`` under ``relation`` (``inf`` for a mechanism without noise)."""

    def check(self, event, relation):
        """Raise :class:`UnsupportedEventError` unless :meth:`supports` says yes."""
        if not self.supports(event, relation):
            relations = sorted(str(supported) for supported in self.relations)
            raise UnsupportedEventError(
                f"accountant={self.name!r} cannot account {type(event).__name__} under "
                f"neighbouring={str(relation)!r} (it accounts DP-SGD under {relations})."
            )
