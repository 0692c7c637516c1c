"""The noise of a metadata release and its accounting: one Gaussian over all its histograms,
its ``dp_accounting`` event per relation, and the δ and threshold of partition selection."""

import math
import numbers
from dataclasses import dataclass

import numpy as np
from dp_accounting import ComposedDpEvent, GaussianDpEvent, NeighboringRelation
from scipy.optimize import brentq
from scipy.stats import norm

from ._counts import unit_weights as _unit_weights

__all__ = ["DEFAULT_NOISE_MULTIPLIER", "MetadataNoise", "histogram_dp_event", "partition_delta", "partition_threshold"]

#: The metadata noise multiplier ``m`` when the caller gives none (docs/_drafts/dp_metadata.md).
DEFAULT_NOISE_MULTIPLIER = 8.0

_RELATIONS = (NeighboringRelation.ADD_OR_REMOVE_ONE, NeighboringRelation.REPLACE_ONE)

# Spawn-key purposes: one per kind of draw, so that no two releases share noise.
_STAGE_ONE, _STAGE_TWO, _CATEGORIES, _CLASSES, _SERIES_ONE, _SERIES_TWO = range(1, 7)


def _check_relation(relation):
    if relation not in _RELATIONS:
        raise ValueError(
            f"relation={relation!r}; use dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE or "
            "NeighboringRelation.REPLACE_ONE."
        )


@dataclass(frozen=True)
class MetadataNoise:
    """The Gaussian noise of a metadata release, from the public schema alone.

    Attributes
    ----------
    noise_multiplier : float
        ``m`` > 0: the whole release is a Gaussian mechanism of noise
        multiplier ``m`` under add-or-remove.
    n_numeric : int, default=0
        Numeric features whose range is released (a series' channels and its
        length count here): two histograms each, the grid and its refinement.
    n_categorical : int, default=0
        Categorical features whose categories are released, and an unknown
        label domain: one histogram each.

    Examples
    --------
    >>> from dp_accounting import NeighboringRelation
    >>> from sk_privattn.privacy._metadata import MetadataNoise
    >>> noise = MetadataNoise(8.0, n_numeric=6, n_categorical=9)
    >>> noise.n_histograms, round(noise.noise_std, 1)
    (21, 36.7)
    >>> [round(event.noise_multiplier, 2) for event in noise.dp_events(NeighboringRelation.ADD_OR_REMOVE_ONE)]
    [9.47, 14.97]
    """

    noise_multiplier: float
    n_numeric: int = 0
    n_categorical: int = 0

    def __post_init__(self):
        if not (isinstance(self.noise_multiplier, numbers.Real) and self.noise_multiplier > 0):
            raise ValueError(f"noise_multiplier={self.noise_multiplier!r}; use a number > 0 (default 8).")
        for name in ("n_numeric", "n_categorical"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Integral) and value >= 0):
                raise ValueError(f"{name}={value!r}; use the number of features, an int >= 0.")

    @property
    def n_histograms(self):
        """``H``: the histograms of the whole release, both numeric stages included."""
        return 2 * self.n_numeric + self.n_categorical

    @property
    def noise_std(self):
        """The standard deviation of every bucket's noise, ``m * sqrt(H)``."""
        return float(self.noise_multiplier) * math.sqrt(self.n_histograms)

    def stage_sizes(self):
        """The histograms of each stage: (first, second) with ``first = n_numeric + n_categorical``."""
        return tuple(size for size in (self.n_numeric + self.n_categorical, self.n_numeric) if size)

    def dp_events(self, relation):
        """One ``GaussianDpEvent`` per stage, as :func:`histogram_dp_event` accounts it."""
        return tuple(histogram_dp_event(self.noise_std, size, relation) for size in self.stage_sizes())

    def dp_event(self, relation):
        """The whole release as one ``ComposedDpEvent``, to compose with DP-SGD in a PLD accountant."""
        return ComposedDpEvent(list(self.dp_events(relation)))


def histogram_dp_event(noise_std, n_histograms, relation):
    """The ``dp_accounting`` event of ``n_histograms`` histograms released with Gaussian noise.

    Each histogram receives weight at most 1 in L1 norm from a unit (a row, or
    a person at weight ``1 / k`` per row), so the release's L2 sensitivity is
    ``sqrt(n_histograms)`` under add-or-remove and ``sqrt(2 * n_histograms)``
    under replace-one. ``GaussianDpEvent(z)`` assumes sensitivity 1 under
    ``ADD_OR_REMOVE_ONE`` and 2 under ``REPLACE_ONE``, hence the factors.

    Parameters
    ----------
    noise_std : float
        The standard deviation of each bucket's noise, > 0.
    n_histograms : int
        > 0.
    relation : dp_accounting.NeighboringRelation
        ``ADD_OR_REMOVE_ONE`` or ``REPLACE_ONE``.

    Returns
    -------
    dp_accounting.GaussianDpEvent

    Examples
    --------
    >>> from dp_accounting import NeighboringRelation
    >>> from sk_privattn.privacy._metadata import histogram_dp_event
    >>> histogram_dp_event(20.0, 4, NeighboringRelation.ADD_OR_REMOVE_ONE).noise_multiplier
    10.0
    >>> round(histogram_dp_event(20.0, 4, NeighboringRelation.REPLACE_ONE).noise_multiplier, 4)
    14.1421
    """
    _check_relation(relation)
    multiplier = float(noise_std) / math.sqrt(n_histograms)
    if relation == NeighboringRelation.REPLACE_ONE:
        multiplier *= math.sqrt(2.0)
    return GaussianDpEvent(multiplier)


def partition_delta(noise_std, threshold, relation):
    """The δ that partition selection adds, per feature, outside the PLD.

    Under add-or-remove, one neighbour may hold one key that the other does
    not, of weight at most 1, released with probability
    ``p = P[N(0, noise_std^2) >= threshold - 1]``: dropping that release
    changes the output's distribution by at most ``p`` in total variation,
    and what remains is the Gaussian mechanism on the shared keys. Under
    replace-one each neighbour may hold a key of its own: dropping one's key
    costs ``p``, and adding the other's key to it at count zero costs
    ``P[N(0, noise_std^2) >= threshold]``, after which the two are again the
    Gaussian mechanism.

    Parameters
    ----------
    noise_std : float
    threshold : float
    relation : dp_accounting.NeighboringRelation

    Returns
    -------
    delta : float

    Examples
    --------
    >>> from dp_accounting import NeighboringRelation
    >>> from sk_privattn.privacy._metadata import partition_delta
    >>> one = partition_delta(10.0, 60.0, NeighboringRelation.ADD_OR_REMOVE_ONE)
    >>> f"{one:.3e}"
    '1.818e-09'
    >>> one < partition_delta(10.0, 60.0, NeighboringRelation.REPLACE_ONE) < 2 * one
    True
    """
    _check_relation(relation)
    delta = norm.sf((threshold - 1.0) / noise_std)
    if relation == NeighboringRelation.REPLACE_ONE:
        delta += norm.sf(threshold / noise_std)
    return float(delta)


def partition_threshold(noise_std, delta, relation):
    """The smallest threshold whose :func:`partition_delta` is at most ``delta``.

    Parameters
    ----------
    noise_std : float
    delta : float
        The δ allowed per feature, in (0, 1).
    relation : dp_accounting.NeighboringRelation

    Returns
    -------
    threshold : float

    Examples
    --------
    >>> from dp_accounting import NeighboringRelation
    >>> from sk_privattn.privacy._metadata import partition_threshold
    >>> round(partition_threshold(8.0 * 22 ** 0.5, 1e-6 / 8, NeighboringRelation.ADD_OR_REMOVE_ONE))
    195
    """
    _check_relation(relation)
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta={delta!r}; use the δ allowed per feature, in (0, 1), for example 1e-7.")
    add_or_remove = 1.0 + noise_std * norm.isf(delta)
    if relation == NeighboringRelation.ADD_OR_REMOVE_ONE:
        return float(add_or_remove)
    return float(brentq(lambda tau: partition_delta(noise_std, tau, relation) - delta,
                        add_or_remove, add_or_remove + noise_std * 2.0, xtol=1e-9))


def _generator(seed, purpose, feature, key=0):
    """The generator of one purpose, feature and (for categories) key, from the caller's ``seed``.

    The spawn key always has the same length, ``key`` split into four 32-bit
    words, so that no two (purpose, feature, key) share a stream.
    """
    words = tuple((int(key) >> shift) & 0xFFFFFFFF for shift in (0, 32, 64, 96))
    child = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, purpose, feature, *words))
    return np.random.default_rng(child)


def _check_seed(seed):
    if not isinstance(seed, np.random.SeedSequence):
        raise TypeError(
            f"seed={seed!r}; pass a numpy.random.SeedSequence used by no other release, for example "
            "numpy.random.SeedSequence(random_state).spawn(4)[0]."
        )


def _check_noise(noise, needed, kind, what):
    if not isinstance(noise, MetadataNoise):
        raise TypeError(f"noise={noise!r}; pass a MetadataNoise, the noise of the whole metadata release.")
    declared = getattr(noise, kind)
    if needed > declared:
        raise ValueError(
            f"{what} needs {needed} {kind.removeprefix('n_')} histograms, but noise={noise!r} declares "
            f"{kind}={declared}; count every feature of the release in the MetadataNoise."
        )
