"""Privacy accounting helpers built on Opacus' accountants."""

import contextlib
import functools
import math
import warnings

import numpy as np
from opacus.accountants import create_accountant

__all__ = ["ACCOUNTANTS", "default_delta", "calibrate_noise_multiplier", "compute_epsilon"]

#: The accountants a DP estimator can use (Opacus' names).
ACCOUNTANTS = ("prv", "rdp", "gdp")

# Opacus' default RDP orders stop at 63, which cannot certify ε below about
# log(1/δ)/62; larger orders let the RDP accountant reach small ε too.
_RDP_ALPHAS = [1 + x / 10.0 for x in range(1, 100)] + list(range(11, 64)) + [
    80, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048,
]


@contextlib.contextmanager
def _quiet_accounting():
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
        # Said once per fit, in our words, by the estimators (see GDP_WARNING).
        warnings.filterwarnings("ignore", message="GDP accounting is experimental")
        yield


GDP_WARNING = (
    "accountant='gdp' is a central-limit approximation that Opacus marks "
    "experimental: it can underestimate the ε spent, so epsilon_ is not a "
    "guarantee. Use accountant='prv' (the default) or 'rdp' for one."
)


def _accountant_options(accountant):
    return {"alphas": _RDP_ALPHAS} if accountant == "rdp" else {}


def default_delta(n_samples):
    """The δ used when ``delta=None``: ``1 / (10 * n_samples)``.

    One tenth of ``1 / n``: a mechanism that publishes one whole random row
    satisfies (0, 1/n)-DP, so δ must sit well below ``1 / n`` to mean anything.

    Parameters
    ----------
    n_samples : int

    Returns
    -------
    delta : float
    """
    return 1.0 / (10.0 * n_samples)


def compute_epsilon(history, delta, accountant="prv"):
    """ε spent by a sequence of Poisson-subsampled Gaussian mechanisms.

    Parameters
    ----------
    history : list of (noise_multiplier, sample_rate, steps)
        Opacus' accountant history format. Entries may differ in noise and
        sample rate (the fits of a warm start, for example); the "prv" and
        "rdp" accountants compose them. Mechanisms with a zero noise
        multiplier are not private, and give ``inf``.
    delta : float
    accountant : {"prv", "rdp", "gdp"}, default="prv"

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
    """
    history = [entry for entry in history if entry[2] > 0]
    if not history:
        return 0.0
    if any(noise_multiplier == 0 for noise_multiplier, _, _ in history):
        return math.inf
    if accountant == "gdp":
        history = _single_mechanism(history)
    with _quiet_accounting():
        engine = create_accountant(mechanism=accountant)
        engine.history = list(history)
        return float(engine.get_epsilon(delta=delta, **_accountant_options(accountant)))


def _single_mechanism(history):
    """Merge ``history`` into one entry for the GDP accountant, or raise.

    Opacus' GDP accountant reads only the last entry of its history, so a
    history of several different mechanisms would silently lose all but one.
    """
    mechanisms = {(noise_multiplier, sample_rate) for noise_multiplier, sample_rate, _ in history}
    if len(mechanisms) > 1:
        raise ValueError(
            f"accountant='gdp' cannot compose mechanisms with different noise multipliers or "
            f"sample rates (got {sorted(mechanisms)}), such as the fits of a warm start; use "
            "accountant='prv' or 'rdp'."
        )
    (noise_multiplier, sample_rate), = mechanisms
    return [(noise_multiplier, sample_rate, sum(steps for _, _, steps in history))]


def _epsilon_or_inf(noise_multiplier, sample_rate, steps, delta, accountant, prior_history=()):
    """ε of one mechanism after ``prior_history``; ``inf`` where the accountant's numerics give up.

    At very small noise the GDP accountant's root finder has no bracket, and
    PRV's domain overflows; for calibration both mean "far too little noise".
    """
    if noise_multiplier <= 0:
        return math.inf
    try:
        return compute_epsilon([*prior_history, (noise_multiplier, sample_rate, steps)], delta, accountant)
    except (ValueError, OverflowError, FloatingPointError):
        return math.inf


def calibrate_noise_multiplier(
    *, epsilon, delta, sample_rate, steps, accountant="prv", rtol=0.005, prior_history=()
):
    """Smallest noise multiplier, to ``rtol``, whose ε after ``steps`` is ≤ ``epsilon``.

    A bisection over Opacus' accountant. Unlike
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
    accountant : {"prv", "rdp", "gdp"}, default="prv"
    rtol : float, default=0.005
        Relative precision of the noise multiplier.
    prior_history : list of (noise_multiplier, sample_rate, steps), default=()
        Mechanisms already run on the same data, which the budget includes.

    Returns
    -------
    noise_multiplier : float

    Raises
    ------
    ValueError
        If even a noise multiplier of 1e6 does not meet the budget.
    """
    prior_history = tuple(tuple(float(value) for value in entry) for entry in prior_history)
    return _calibrate(float(epsilon), float(delta), float(sample_rate), int(steps), accountant, float(rtol), prior_history)


@functools.lru_cache(maxsize=512)
def _calibrate(epsilon, delta, sample_rate, steps, accountant, rtol, prior_history):
    # A pure function of its arguments: a fit, its budget check, a search's
    # bound and the same-sized sites of a federation calibrate it once.
    prior_history = list(prior_history)

    def spent(noise):
        return _epsilon_or_inf(noise, sample_rate, steps, delta, accountant, prior_history)

    low, high = 0.0, 1.0
    while spent(high) > epsilon:
        low, high = high, 2.0 * high
        if high > 1e6:
            prior = (
                f" on top of the ε={compute_epsilon(prior_history, delta, accountant):.4g} already spent"
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
