"""Privacy accounting helpers built on Opacus' accountants."""

import contextlib
import math
import warnings

import numpy as np
from opacus.accountants import create_accountant
from opacus.accountants.utils import get_noise_multiplier

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
    (the domain is then only larger, the ε bound unchanged).
    """
    with np.errstate(divide="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        yield


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
        Opacus' accountant history format. Mechanisms with a zero noise
        multiplier are not private, and give ``inf``.
    delta : float
    accountant : {"prv", "rdp", "gdp"}, default="prv"

    Returns
    -------
    epsilon : float
    """
    history = [entry for entry in history if entry[2] > 0]
    if not history:
        return 0.0
    if any(noise_multiplier == 0 for noise_multiplier, _, _ in history):
        return math.inf
    engine = create_accountant(mechanism=accountant)
    engine.history = list(history)
    with _quiet_accounting():
        return float(engine.get_epsilon(delta=delta, **_accountant_options(accountant)))


def calibrate_noise_multiplier(*, epsilon, delta, sample_rate, steps, accountant="prv"):
    """Smallest noise multiplier (to 1%) whose ε after ``steps`` is ≤ ``epsilon``.

    Opacus' binary search is followed by a check with the same accountant;
    if rounding left the spent ε above the target, the noise grows by 1%
    until it is not.

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

    Returns
    -------
    noise_multiplier : float
    """
    with _quiet_accounting():
        noise_multiplier = get_noise_multiplier(
            target_epsilon=epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=steps,
            accountant=accountant,
            epsilon_tolerance=0.005 * epsilon,
            **_accountant_options(accountant),
        )
    while compute_epsilon([(noise_multiplier, sample_rate, steps)], delta, accountant) > epsilon:
        noise_multiplier *= 1.01
    return float(noise_multiplier)
