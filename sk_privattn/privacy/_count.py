"""The count that a plan reads: public, or released with DP, and the type says which.

Under add-or-remove the number of units (rows, or persons) is what two
neighbouring data sets differ in, so a plan may read it only as a
:class:`PublicCount` (given by the user, or public by the relation) or as a
:class:`DPCount`, released by :func:`release_count` with pure ε-DP.
:func:`resolve_count` chooses between them; :func:`count_source` says, in the
words that messages may use, where a count comes from (a message never shows
an exact count that is private).
"""

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "COUNT_EPSILON_SHARE",
    "DPCount",
    "MIN_DP_COUNT",
    "PublicCount",
    "count_source",
    "release_count",
    "resolve_count",
]

#: Share of ``epsilon`` that a fit spends on its DP count of the rows, under
#: add-or-remove without a public count (docs/privacy.md, "The number of rows").
COUNT_EPSILON_SHARE = 0.02

#: The smallest DP count released: a smaller draw is raised to it
#: (post-processing), so that a very noisy count of a small table cannot make
#: the plan degenerate.
MIN_DP_COUNT = 100


@dataclass(frozen=True)
class PublicCount:
    """A number of units that is public: nothing is spent on it.

    Attributes
    ----------
    value : int
    source : {"given", "relation", "not private", "roster"}
        "given": the user passed it (``public_count``); "relation": the
        exact count, public under replace-one; "not private": the exact
        count of a fit without privacy (ε = inf); "roster": the public roster
        of a federation's sites.
    """

    value: int
    source: str

    epsilon = 0.0
    private = False


@dataclass(frozen=True)
class DPCount:
    """A number of units released with pure ε-DP (:func:`release_count`).

    Attributes
    ----------
    value : int
        The released count, at least ``MIN_DP_COUNT``.
    epsilon : float
        The pure ε it spent (sensitivity 1 under add-or-remove).
    """

    value: int
    epsilon: float

    private = True
    source = "dp"

    @property
    def scale(self):
        """The scale of its discrete Laplace noise, ``1 / epsilon``."""
        return 1.0 / self.epsilon


_SOURCES = {
    "given": "public_count",
    "relation": "public under neighbouring='replace_one'",
    "not private": "exact, without privacy",
    "dp": "a DP count",
    "roster": "the public roster of sites",
}


def count_source(count):
    """Where ``count`` comes from, in words (for messages, which must not show an exact count).

    Examples
    --------
    >>> from sk_privattn.privacy import PublicCount, count_source
    >>> count_source(PublicCount(1000, "given"))
    'public_count'
    """
    return _SOURCES[count.source]


def release_count(n, epsilon, seed):
    """``n`` plus discrete Laplace noise of scale ``1 / epsilon``: an ε-DP count.

    Adding or removing one unit changes ``n`` by 1, so the two-sided
    geometric (discrete Laplace) mechanism with parameter ``exp(-epsilon)``
    is ``epsilon``-DP, with no δ: its privacy loss never exceeds
    ``epsilon``. That is what lets a plan chosen from the count compose
    soundly with it (docs/privacy.md, "The number of rows"). The released
    value is raised to at least ``MIN_DP_COUNT``, which is post-processing.

    Parameters
    ----------
    n : int
        The exact count.
    epsilon : float
        > 0.
    seed : int
        Seeds the noise.

    Returns
    -------
    DPCount

    Examples
    --------
    >>> from sk_privattn.privacy import release_count
    >>> count = release_count(1000, 0.02, seed=0)
    >>> count.epsilon, count.value != 1000
    (0.02, True)
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x636F756E74]))
    success = -math.expm1(-float(epsilon))
    noise = int(rng.geometric(success)) - int(rng.geometric(success))
    return DPCount(max(MIN_DP_COUNT, int(n) + noise), float(epsilon))


def resolve_count(n, *, neighbouring, public_count, epsilon, seed):
    """The count that a fit's plan reads: public, or released with DP.

    ``public_count`` when it is given; the exact ``n`` when it is public by
    the relation (replace-one) or when nothing is private (ε = inf);
    otherwise a :class:`DPCount` of ``COUNT_EPSILON_SHARE * epsilon``.
    """
    if public_count is not None:
        return PublicCount(int(public_count), "given")
    if not math.isfinite(epsilon):
        return PublicCount(int(n), "not private")
    if neighbouring.count_is_public:
        return PublicCount(int(n), "relation")
    return release_count(n, COUNT_EPSILON_SHARE * float(epsilon), seed)
