"""ε of DP-SGD's mechanisms, noise calibration, the default δ, and composition across fits.

Every function that computes an ε takes the neighbouring relation it is for
(``relation``) and an accountant's name (see :mod:`.accountants`): "pld"
under both relations, Opacus' "prv", "rdp" and "gdp" under add-or-remove. A
fit that released a DP count of its rows spent a *pure* ε on it
(:class:`~sk_privattn.privacy.DPCount`); those add to what the accountants
compose (:func:`compose_worst_row`).
"""

import functools
import math

import numpy as np
from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

from ._terms import Relation
from .accountants import get_accountant, history_event, resolve_accountant
from .accountants.rdp import RDP_ORDERS

__all__ = [
    "DEFAULT_DELTA",
    "calibrate_noise_multiplier",
    "compose_worst_row",
    "compute_epsilon",
    "default_delta",
    "history_rdp",
]


#: The δ of a fit whose count of rows is released with DP and that leaves ``delta=None``: the
#: conventional value (docs/privacy.md, "Choosing ε and δ"). A δ computed from the DP count
#: would hold only at its mean over the count's noise, which depends on the exact n.
DEFAULT_DELTA = 1e-5


def default_delta(count):
    """The δ used when ``delta=None``: a function of public inputs only.

    ``1 / (10 n)`` for a public count ``n`` (``public_count``, the exact
    count under replace-one or without privacy, a federation's roster of
    sites): one tenth of ``1 / n``, since a mechanism that publishes one
    whole random row satisfies (0, 1/n)-DP. ``DEFAULT_DELTA`` for a count
    released with DP: ``1 / (10 count)`` would move with the count's noise,
    and the whole release (count and training) would then hold at the mean
    of that δ over the noise, not at the δ reported (docs/privacy.md, "The
    number of rows").

    Parameters
    ----------
    count : PublicCount, DPCount or int
        The count the plan reads; an int is a public count.

    Returns
    -------
    delta : float

    Examples
    --------
    >>> from sk_privattn.privacy import DPCount, PublicCount, default_delta
    >>> default_delta(PublicCount(1000, "given")), default_delta(1000)
    (0.0001, 0.0001)
    >>> default_delta(DPCount(1000, 0.02)) == default_delta(DPCount(990, 0.02)) == 1e-5
    True
    """
    if getattr(count, "private", False):
        return DEFAULT_DELTA
    return 1.0 / (10.0 * int(getattr(count, "value", count)))


def compute_epsilon(history, delta, accountant="pld", relation=Relation.ADD_OR_REMOVE):
    """ε spent by a sequence of Poisson-subsampled Gaussian mechanisms.

    Parameters
    ----------
    history : list of (noise_multiplier, sample_rate, steps)
        Opacus' accountant history format. Entries may differ in noise and
        sample rate (the fits of a warm start, for example); the accountants
        that compose (all but "gdp") compose them. Mechanisms with a zero
        noise multiplier are not private, and give ``inf``.
    delta : float
    accountant : str, default="pld"
        A registered accountant (:func:`~sk_privattn.privacy.accountants.accountant_names`).
    relation : {"add_or_remove", "replace_one"}, default="add_or_remove"
        The neighbouring relation of the ε; "replace_one" needs an accountant
        that accounts it ("pld").

    Returns
    -------
    epsilon : float

    Raises
    ------
    ValueError
        If ``accountant="gdp"`` and the entries differ in noise multiplier or
        sample rate: Opacus' GDP accountant reads only one mechanism.

    Examples
    --------
    >>> from sk_privattn.privacy import compute_epsilon
    >>> one = compute_epsilon([(1.0, 0.01, 1000)], delta=1e-5)
    >>> two = compute_epsilon([(1.0, 0.01, 1000), (2.0, 0.01, 500)], delta=1e-5)
    >>> 0 < one < two
    True
    >>> compute_epsilon([(1.0, 0.01, 1000)], 1e-5, "pld", "replace_one") > one
    True
    """
    relation = Relation(relation)
    resolve_accountant(accountant, relation)
    history = tuple((float(noise), float(rate), int(steps)) for noise, rate, steps in history if steps > 0)
    return _epsilon(history, float(delta), accountant, relation)


@functools.lru_cache(maxsize=1024)
def _epsilon(history, delta, accountant, relation=Relation.ADD_OR_REMOVE):
    # A pure function of its arguments: the same mechanism (a fit, its ledger
    # record, the sites of a federation of equal size) is accounted once.
    if not history:
        return 0.0
    if any(noise_multiplier == 0 for noise_multiplier, _, _ in history):
        return math.inf
    return get_accountant(accountant).epsilon(history_event(history), delta, relation)


def _add_or_remove_rdp(history, orders):
    total = np.zeros(len(orders))
    for noise_multiplier, sample_rate, steps in history:
        if steps <= 0:
            continue
        if noise_multiplier <= 0:
            return np.full(len(orders), np.inf)
        rdp = np.asarray(compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=steps, orders=list(orders)))
        total += np.where(np.isnan(rdp), np.inf, rdp)
    return total


def history_rdp(history, orders=None, relation=Relation.ADD_OR_REMOVE):
    """RDP of ``history`` at each of ``orders`` (``RDP_ORDERS`` by default), by Opacus' analysis.

    ``inf`` where a mechanism has no noise, or where Opacus' series overflows.
    Under ``"replace_one"``, replacing a row is removing it and adding
    another, and Mironov's weak triangle inequality for Rényi divergences
    (Mironov 2017, Proposition 11, with p = q = 2) bounds the replace-one RDP
    at order α by ``(α - 1/2) / (α - 1) * rdp(2α) + rdp(2α - 1)`` of the
    add-or-remove RDP, which Opacus' analysis bounds in both directions
    (Mironov, Talwar & Zhang 2019): a valid, looser bound, for the places
    that compose in RDP (private model selection, heterogeneous groups).
    """
    orders = np.asarray(RDP_ORDERS if orders is None else orders, dtype=float)
    if Relation(relation) is Relation.ADD_OR_REMOVE:
        return _add_or_remove_rdp(history, orders)
    factor = (orders - 0.5) / (orders - 1.0)
    return factor * _add_or_remove_rdp(history, 2 * orders) + _add_or_remove_rdp(history, 2 * orders - 1)


def compose_worst_row(fits, delta, accountant="pld", relation=Relation.ADD_OR_REMOVE, pure_epsilons=None):
    """ε paid by the row that paid most, if every fit trained on every row.

    Parameters
    ----------
    fits : list of list of history
        One entry per fit: its groups of rows, each with the history that
        its rows paid (the sites of a federation pay different mechanisms;
        other fits have one group).
    delta : float
    accountant : str, default="pld"
        When every fit has one group, the accountant that composes them.
        Otherwise a row paid one group of each fit, and the RDP of the worst
        group at each order, summed over the fits, bounds every such row
        (Rényi DP composes by addition, order by order): the result is an
        RDP bound whatever ``accountant`` says.
    relation : {"add_or_remove", "replace_one"}, default="add_or_remove"
    pure_epsilons : list of float, default=None
        The pure ε of each fit's DP counts (none by default); they add.

    Returns
    -------
    epsilon : float

    Examples
    --------
    >>> from sk_privattn.privacy import compose_worst_row, compute_epsilon
    >>> one = [[(1.0, 0.01, 1000)]]
    >>> compose_worst_row([one], 1e-5) == compute_epsilon(one[0], 1e-5)
    True
    >>> two_sites = [[(1.0, 0.01, 1000)], [(2.0, 0.02, 1000)]]
    >>> compose_worst_row([two_sites], 1e-5, "rdp") == max(compute_epsilon(h, 1e-5, "rdp") for h in two_sites)
    True
    """
    pure = float(sum(pure_epsilons or ()))
    fits = [groups for groups in fits if groups]
    if all(len(groups) == 1 for groups in fits):
        return pure + compute_epsilon([entry for groups in fits for entry in groups[0]], delta, accountant, relation)
    total = sum(np.max([history_rdp(history, relation=relation) for history in groups], axis=0) for groups in fits)
    if not np.any(total):
        return pure
    if not np.isfinite(total).any():
        return math.inf
    return pure + float(get_privacy_spent(orders=list(RDP_ORDERS), rdp=list(total), delta=delta)[0])


def _epsilon_or_inf(noise_multiplier, sample_rate, steps, delta, accountant, prior_history=(),
                    relation=Relation.ADD_OR_REMOVE):
    """ε of one mechanism after ``prior_history``; ``inf`` where the accountant's numerics give up.

    At very small noise the GDP accountant's root finder has no bracket, and
    PRV's domain overflows; for calibration both mean "far too little noise".
    """
    if noise_multiplier <= 0:
        return math.inf
    try:
        return compute_epsilon([*prior_history, (noise_multiplier, sample_rate, steps)], delta, accountant, relation)
    except (ValueError, OverflowError, FloatingPointError):
        return math.inf


def calibrate_noise_multiplier(
    *, epsilon, delta, sample_rate, steps, accountant="pld", rtol=0.005, prior_history=(), relation=Relation.ADD_OR_REMOVE
):
    """Smallest noise multiplier, to ``rtol``, whose ε after ``steps`` is ≤ ``epsilon``.

    A bisection over the accountant. Unlike
    :func:`opacus.accountants.utils.get_noise_multiplier` it survives the
    accountants' numerical failures at tiny noise, and the value it returns
    always satisfies the budget, because only noise levels that the
    accountant certified are ever kept. With ``prior_history``, ε is that of
    the prior mechanisms composed with the new one, so the new steps spend
    what is left of ``epsilon``.

    Parameters
    ----------
    epsilon : float
        Target ε, finite and > 0.
    delta : float
    sample_rate : float
        Poisson sampling probability of each row per step.
    steps : int
        Number of optimizer steps.
    accountant : str, default="pld"
        A registered accountant.
    rtol : float, default=0.005
        Relative precision of the noise multiplier.
    prior_history : list of (noise_multiplier, sample_rate, steps), default=()
        Mechanisms already run on the same data, which the budget includes.
    relation : {"add_or_remove", "replace_one"}, default="add_or_remove"
        The neighbouring relation of ``epsilon``.

    Returns
    -------
    noise_multiplier : float

    Raises
    ------
    ValueError
        If even a noise multiplier of 1e6 does not meet the budget.
    """
    relation = Relation(relation)
    resolve_accountant(accountant, relation)
    prior_history = tuple(tuple(float(value) for value in entry) for entry in prior_history)
    return _calibrate(float(epsilon), float(delta), float(sample_rate), int(steps), accountant, float(rtol),
                      prior_history, relation)


@functools.lru_cache(maxsize=512)
def _calibrate(epsilon, delta, sample_rate, steps, accountant, rtol, prior_history, relation=Relation.ADD_OR_REMOVE):
    # A pure function of its arguments: a fit, its budget check, a search's
    # bound and the same-sized sites of a federation calibrate it once.
    prior_history = list(prior_history)

    def spent(noise):
        return _epsilon_or_inf(noise, sample_rate, steps, delta, accountant, prior_history, relation)

    low, high = 0.0, 1.0
    while spent(high) > epsilon:
        low, high = high, 2.0 * high
        if high > 1e6:
            prior = (
                f" on top of the ε={compute_epsilon(prior_history, delta, accountant, relation):.4g} already spent"
                if prior_history
                else ""
            )
            raise ValueError(
                f"epsilon={epsilon} with delta={delta} cannot be met by {steps} steps at "
                f"sample rate {sample_rate:.3g}{prior}, even with noise multiplier 1e6; raise "
                "epsilon or delta, or take fewer steps (max_epochs) or smaller batches."
            )
    while high - low > rtol * high:
        middle = 0.5 * (low + high)
        if spent(middle) > epsilon:
            low = middle
        else:
            high = middle
    return float(high)
