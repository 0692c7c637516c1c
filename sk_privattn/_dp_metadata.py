"""Differentially private metadata: numeric ranges, categories, classes and series lengths.

A model needs metadata that the data determines: a range to scale each numeric
feature, the categories of each categorical feature, the classes, the length of
a series. Read from the data, each of them leaks: the exact extremes of a column
are two rows' values, and a category held by one row reveals that row. This
module releases them with differential privacy, as noisy histograms, and says
exactly what each release costs, in the terms of Google's ``dp_accounting``, so
that the caller composes it with DP-SGD in one PLD accountant. It imports
nothing from the rest of the package.

**One Gaussian noise for every histogram.** Every release adds Gaussian noise of
the same standard deviation ``noise_std = m * sqrt(H)`` to histograms (see
:class:`MetadataNoise`): ``m`` is the metadata noise multiplier, the public
parameter, and ``H`` is the number of histograms of the whole metadata release,
known from the schema alone (two per numeric feature, one per categorical
feature, one for an unknown label domain). A row adds weight 1 to exactly one
bucket of each histogram (a missing value has a bucket of its own), so

- under add-or-remove one row, the histograms change by at most
  ``sqrt(H)`` in L2 norm;
- under replace-one, by at most ``sqrt(2 H)`` (per histogram, one bucket
  loses 1 and another gains 1);
- at person level, each of a person's ``k`` rows weighs ``1 / k``, so that
  a person's contribution to a histogram has L1 norm 1, L2 norm at most 1,
  and the same bounds hold (two nonnegative vectors of L1 norm 1 are at most
  ``sqrt(2)`` apart).

The metadata release is therefore a Gaussian mechanism of noise multiplier
``m`` under add-or-remove, whatever the schema. Stages that run one after the
other (a refinement chosen from a first release) compose exactly as one
Gaussian: the squared inverses of their noise multipliers add (Dong, Roth and
Su, "Gaussian differential privacy", 2019), which is why one ``m`` describes the
whole release, and why shares of ε, which do not add under the PLD, are not the
parameter.

**Its dp_accounting event.** ``dp_accounting``'s ``GaussianDpEvent(z)`` models
a sum of vectors clipped to norm 1: sensitivity 1 under ``ADD_OR_REMOVE_ONE``,
but 2 under ``REPLACE_ONE`` (a vector replaced by its opposite). A histogram
is more private than that: its replace-one sensitivity is ``sqrt(2)`` per
histogram, not 2. So a release of ``h`` histograms with noise ``noise_std`` is
``GaussianDpEvent(noise_std / sqrt(h))`` under add-or-remove and
``GaussianDpEvent(sqrt(2) * noise_std / sqrt(h))`` under replace-one
(:func:`histogram_dp_event`).

**Numeric ranges** (:func:`release_numeric_ranges`), in two stages.

1. A fixed grid of the float line that needs no data: buckets of sign and
   power of two, ``[2^k, 2^(k+1))`` and ``(-2^(k+1), -2^k]`` for
   ``MIN_EXPONENT <= k < MAX_EXPONENT``, a zero bucket ``(-2^MIN_EXPONENT,
   2^MIN_EXPONENT)``, and a missing-value bucket. ``2^64`` is above any
   64-bit integer, and ``2^-32`` (about ``2.3e-10``) below the resolution of
   the measurements a table holds; larger values, infinities included, fall
   in the outermost buckets, smaller ones in the zero bucket. As Google's
   ApproxBounds does (``cc/algorithms/approx-bounds.h`` in
   google/differential-privacy), the range spans the outermost buckets whose
   noisy count clears a threshold. Runs of ``COARSE_RUNS`` (2 and 4)
   adjacent buckets outside that range then extend it when their noisy mass
   clears ``sqrt(2)`` and ``2`` times the threshold (the noise of their sum):
   a balance whose negative third is spread over several powers of two, none
   of them above the threshold at 2,000 rows, keeps its negative side. A
   feature needs a bucket besides the zero bucket to clear on its own; runs
   only extend. The threshold is set
   so that an empty bucket or run anywhere in the release clears it with
   probability at most ``EMPTY_BUCKET_PROBABILITY`` (a union bound). No
   cumulative sum is ever taken over this grid: the noise of its many empty
   buckets would dominate it.
2. Linear bins refine the first range (powers of two alone are too coarse:
   years 1990-2020 fall in ``[1024, 2048)``). Each bucket of a cleared unit
   (a bucket, or a run) gets the same number of linear bins, and each bucket
   between units one bin; the units' noisy mass over ``BIN_MASS_STDS`` noise
   standard deviations sets the total, between ``MIN_REFINED_BINS`` and
   ``MAX_REFINED_BINS``: about 50 for 30,000 rows at a noise of 37 rows, 4
   for 2,000. Finer bins at small ``n`` would hold less than the noise, and
   thresholds would keep only the mode. The bins that clear a threshold set
   as in the first stage (an empty bin clears it with probability at most
   ``EMPTY_BUCKET_PROBABILITY`` over the release) are the core; from its
   outermost bins the kept span grows through contiguous bins that clear
   ``EXTENSION_STDS`` noise standard deviations. A unit whose second-stage
   mass clears the threshold (times the square root of its bins) is
   confirmed: if the span does not reach it, its bins that clear
   ``EXTENSION_STDS`` are kept too (the negative side of a balance), and no
   bound cuts into the outermost confirmed units (a thin tail spread over
   bins under the noise, as capital gains beside their zeros, is not cut off
   at the first bin). The bounds are the ``quantile`` and ``1 - quantile``
   quantiles of the kept mass, linear inside a bin. So an empty bin far from
   the data cannot move a bound, one next to the kept span (probability
   2.3 %) moves it by one bin, and a bucket that cleared the first stage by
   chance holds no bin of the data, so it cannot stretch the range. Measured
   on realistic columns (docs/_drafts/dp_metadata.md), this follows the 1 %
   and 99 % quantiles where keeping every bin that clears a threshold, or a
   noisy cumulative sum, let empty bins move a bound across the whole first
   range, and where a fixed 32 linear bins kept only the mode of a column of
   2,000 rows.

A feature whose first stage clears no bucket other than the zero bucket gets
no range (NaN): the caller falls back to its public bounds, or to the
data-free :func:`signed_log`.

**Categories and classes** (:func:`release_categories`,
:func:`release_classes`): Gaussian partition selection (Gopi, Gulhane,
Kulkarni, Shen, Shokouhi and Yekhanin, "Differentially private set union",
2020; Desfontaines, Voss, Gipson and Mandayam, "Differentially private
partition selection", PoPETs 2022). The keys come from the data; a key is
released if its noisy count reaches a threshold ``tau``. On keys present in
both neighbours this is the Gaussian mechanism above. A key that only one
neighbour holds is held by one row (or one person, who counts for the
category of most of their rows) and is released with probability
``p = P[N(0, noise_std^2) >= tau - 1]``: that adds ``p`` per feature to δ
under add-or-remove, and ``p + P[N(0, noise_std^2) >= tau]`` under
replace-one, where each neighbour may hold a key of its own
(:func:`partition_delta`). This δ is outside the PLD: the total δ is the PLD's
δ plus these.

**Seeds.** Every draw comes from a :class:`numpy.random.Generator` built from
the caller's :class:`numpy.random.SeedSequence`, with a spawn key per purpose,
feature and, for categories, a hash of the category. Two neighbouring data
sets released with the same seed get the same noise on every bucket and every
key that they share; a release never reuses a draw of another. Give each call
a SeedSequence of its own (``seed.spawn(k)``): two calls with one seed would
add the same noise to different histograms, and their difference would be
exact.

**Totality.** Only schema errors raise (a wrong type or shape of an argument).
Missing, infinite and constant columns, empty tables, unknown categories, a
category or label held by one row: each gets its DP outcome, never an
exception that one row could cause.
"""

import hashlib
import math
import numbers
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
from dp_accounting import ComposedDpEvent, GaussianDpEvent, NeighboringRelation, PoissonSampledDpEvent
from dp_accounting import SelfComposedDpEvent
from dp_accounting.dp_event import DiscreteLaplaceDpEvent
from dp_accounting.pld import PLDAccountant
from scipy.optimize import brentq
from scipy.stats import norm

__all__ = [
    "DEFAULT_NOISE_MULTIPLIER",
    "EMPTY_BUCKET_PROBABILITY",
    "EXTENSION_STDS",
    "MAX_EXPONENT",
    "MIN_EXPONENT",
    "BIN_MASS_STDS",
    "COARSE_RUNS",
    "MAX_REFINED_BINS",
    "MIN_REFINED_BINS",
    "ROBUST_QUANTILE",
    "SIGNED_LOG_SCALE",
    "MetadataNoise",
    "NumericRanges",
    "ReleasedCategories",
    "SeriesMetadata",
    "compose_epsilon",
    "histogram_dp_event",
    "partition_delta",
    "partition_threshold",
    "release_categories",
    "release_classes",
    "release_numeric_ranges",
    "release_series_metadata",
    "signed_log",
]

#: The metadata noise multiplier ``m`` when the caller gives none (docs/_drafts/dp_metadata.md).
DEFAULT_NOISE_MULTIPLIER = 8.0

#: The power-of-two grid: magnitudes from ``2^MIN_EXPONENT`` to ``2^MAX_EXPONENT``.
MIN_EXPONENT = -32
MAX_EXPONENT = 64

#: Runs of these many adjacent buckets extend the first stage's range, so that mass spread over a few buckets counts.
COARSE_RUNS = (2, 4)

#: Probability that an empty bucket of the first stage, or an empty bin of the
#: second, clears its threshold anywhere in one release (a union bound).
EMPTY_BUCKET_PROBABILITY = 1e-4

#: The second stage's linear bins inside the first stage's units: between these many in all.
MIN_REFINED_BINS = 4
MAX_REFINED_BINS = 128

#: The second stage chooses its number of bins to hold this many noise standard deviations on average.
BIN_MASS_STDS = 16.0

#: A refined bin next to the kept ones is kept when its noisy count reaches this many noise standard deviations.
EXTENSION_STDS = 2.0

#: The quantile of the robust range: the range approximates [1 %, 99 %].
ROBUST_QUANTILE = 0.01

#: The data-free encoding divides ``sign(x) * log1p(|x|)`` by this: 1 at ``|x| = e^10``, about 22,000.
SIGNED_LOG_SCALE = 10.0

_RELATIONS = (NeighboringRelation.ADD_OR_REMOVE_ONE, NeighboringRelation.REPLACE_ONE)

# Spawn-key purposes: one per kind of draw, so that no two releases share noise.
_STAGE_ONE, _STAGE_TWO, _CATEGORIES, _CLASSES, _SERIES_ONE, _SERIES_TWO = range(1, 7)

_MAGNITUDES = 2.0 ** np.arange(MIN_EXPONENT, MAX_EXPONENT + 1)
#: Bucket ``i`` of the grid spans ``_EDGES[i]`` to ``_EDGES[i + 1]`` (a negative bucket holds its upper edge,
#: a positive one its lower edge); the outermost ones also hold what lies beyond.
_EDGES = np.concatenate([-_MAGNITUDES[::-1], _MAGNITUDES])
_N_BUCKETS = _EDGES.size - 1
_ZERO_BUCKET = _N_BUCKETS // 2


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
    >>> from sk_privattn._dp_metadata import MetadataNoise
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
    >>> from sk_privattn._dp_metadata import histogram_dp_event
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


def compose_epsilon(*, delta, relation, metadata=None, count_epsilon=None, noise_multiplier=None,
                    sample_rate=1.0, steps=0, value_discretization_interval=1e-3):
    """ε at ``delta`` of a metadata release, a DP count and DP-SGD, composed in one PLD accountant.

    Parameters
    ----------
    delta : float
        The PLD's δ; the δ of partition selection (:func:`partition_delta`)
        comes on top.
    relation : dp_accounting.NeighboringRelation
    metadata : MetadataNoise, default=None
        The metadata release; none by default.
    count_epsilon : float, default=None
        The count of rows released with discrete Laplace noise of parameter
        ``count_epsilon`` (sensitivity 1), only under add-or-remove: replace-one
        makes the count public.
    noise_multiplier : float, default=None
        DP-SGD's noise multiplier; no DP-SGD when None.
    sample_rate : float, default=1.0
        DP-SGD's Poisson sampling rate.
    steps : int, default=0
    value_discretization_interval : float, default=1e-3
        The PLD's discretisation; the ε is a pessimistic upper bound.

    Returns
    -------
    epsilon : float

    Examples
    --------
    >>> from dp_accounting import NeighboringRelation
    >>> from sk_privattn._dp_metadata import MetadataNoise, compose_epsilon
    >>> add_or_remove = NeighboringRelation.ADD_OR_REMOVE_ONE
    >>> training = compose_epsilon(delta=1e-5, relation=add_or_remove, noise_multiplier=1.0,
    ...                            sample_rate=1 / 32, steps=800)
    >>> both = compose_epsilon(delta=1e-5, relation=add_or_remove, noise_multiplier=1.0,
    ...                        sample_rate=1 / 32, steps=800, metadata=MetadataNoise(8.0, n_numeric=3))
    >>> training < both
    True
    """
    _check_relation(relation)
    events = list(metadata.dp_events(relation)) if metadata is not None else []
    if count_epsilon is not None:
        if relation != NeighboringRelation.ADD_OR_REMOVE_ONE:
            raise ValueError(
                f"count_epsilon={count_epsilon!r} under {relation}: replace-one makes the count public, "
                "so no DP count is released; pass count_epsilon=None."
            )
        events.append(DiscreteLaplaceDpEvent(float(count_epsilon), 1))
    if noise_multiplier is not None and steps > 0:
        step = GaussianDpEvent(float(noise_multiplier))
        if sample_rate < 1.0:
            step = PoissonSampledDpEvent(float(sample_rate), step)
        events.append(SelfComposedDpEvent(step, int(steps)))
    accountant = PLDAccountant(relation, value_discretization_interval=value_discretization_interval)
    accountant.compose(ComposedDpEvent(events))
    return float(accountant.get_epsilon(delta))


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
    >>> from sk_privattn._dp_metadata import partition_delta
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
    >>> from sk_privattn._dp_metadata import partition_threshold
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


def _unit_weights(n_rows, groups):
    """Each row's weight: 1, or ``1 / k`` for a person with ``k`` rows; and each row's person."""
    if groups is None:
        return np.ones(n_rows), np.arange(n_rows)
    groups = np.asarray(groups)
    if groups.ndim != 1 or len(groups) != n_rows:
        raise ValueError(f"groups has shape {groups.shape}; pass one person id per row, shape ({n_rows},).")
    _, person, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return 1.0 / counts[person], person


def _grid_index(values):
    """The grid bucket of each (non-missing) value."""
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        _, exponent = np.frexp(magnitude)
    exponent = np.where(np.isinf(magnitude), MAX_EXPONENT, exponent) - 1
    offset = np.clip(exponent, MIN_EXPONENT, MAX_EXPONENT - 1) - MIN_EXPONENT
    index = np.where(values > 0, _ZERO_BUCKET + 1 + offset, _ZERO_BUCKET - 1 - offset)
    return np.where(magnitude < 2.0**MIN_EXPONENT, _ZERO_BUCKET, index)


def _live_buckets(low, high):
    """The grid buckets that meet ``[low, high]`` in more than a point (the outermost ones extend to infinity)."""
    bucket_low = np.concatenate([[-np.inf], _EDGES[1:-1]])
    bucket_high = np.concatenate([_EDGES[1:-1], [np.inf]])
    return (bucket_low < high) & (bucket_high > low)


def _check_bounds(public_bounds, n_features):
    if public_bounds is None:
        return np.tile([-np.inf, np.inf], (n_features, 1))
    bounds = np.asarray(public_bounds, dtype=float)
    if bounds.shape != (n_features, 2) or np.isnan(bounds).any() or not (bounds[:, 0] < bounds[:, 1]).all():
        raise ValueError(
            f"public_bounds={public_bounds!r}; pass one (low, high) per feature, shape ({n_features}, 2), "
            "with low < high, and -inf or inf where a side has no public bound."
        )
    return bounds


@dataclass(frozen=True)
class NumericRanges:
    """DP ranges of numeric features (:func:`release_numeric_ranges`).

    Every array is a DP release, safe to keep.

    Attributes
    ----------
    lower, upper : ndarray of shape (n_features,)
        The robust range of each feature; NaN where the feature has none
        (fall back to public bounds or :func:`signed_log`).
    coarse_lower, coarse_upper : ndarray of shape (n_features,)
        The first stage's range: the outer edges of the outermost grid
        buckets that cleared ``coarse_threshold``; NaN where none did.
    coarse_counts : ndarray of shape (n_features, n_buckets)
        The noisy counts of the grid's buckets; NaN outside the public bounds.
    missing_counts : ndarray of shape (n_features,)
        The noisy counts of missing values.
    refined_edges, refined_counts : tuple of ndarray
        Per feature, the second stage's bin edges and noisy counts; empty for
        a feature without a first-stage range.
    noise_std : float
    coarse_threshold : float
        The first stage's threshold for one bucket (``sqrt(w)`` times it for
        a run of ``w`` buckets).
    refined_thresholds : ndarray of shape (n_features,)
        The threshold of each feature's second-stage core; NaN without one.
    """

    lower: np.ndarray
    upper: np.ndarray
    coarse_lower: np.ndarray
    coarse_upper: np.ndarray
    coarse_counts: np.ndarray
    missing_counts: np.ndarray
    refined_edges: tuple
    refined_counts: tuple
    noise_std: float
    coarse_threshold: float
    refined_thresholds: np.ndarray

    @property
    def has_range(self):
        """Whether each feature got a range."""
        return ~np.isnan(self.lower)

    @property
    def bucket_edges(self):
        """The grid's edges: bucket ``i`` is ``[bucket_edges[i], bucket_edges[i + 1])``."""
        return _EDGES.copy()


def _coarse_histogram(values, weights, live, noise_std, generator):
    """Noisy counts of the grid (NaN off ``live``) and of the missing values.

    A value clipped to a public bound that is a bucket's edge counts in the
    live bucket next to it.
    """
    missing = np.isnan(values)
    live_range = np.flatnonzero(live)
    index = np.clip(_grid_index(values[~missing]), live_range[0], live_range[-1])
    counts = np.bincount(index, weights=weights[~missing], minlength=_N_BUCKETS)
    noise = noise_std * generator.standard_normal(_N_BUCKETS + 1)
    return np.where(live, counts + noise[:-1], np.nan), float(weights[missing].sum() + noise[-1])


def _window_sums(noisy, width):
    """Noisy mass of each run of ``width`` buckets.

    NaN where a run leaves the public bounds, or where a run of several
    buckets holds the zero bucket (whose neighbours are tiny magnitudes).
    """
    sums = np.lib.stride_tricks.sliding_window_view(noisy, width).sum(axis=1)
    if width > 1:
        starts = np.arange(sums.size)
        sums[(starts <= _ZERO_BUCKET) & (starts + width > _ZERO_BUCKET)] = np.nan
    return sums


def _coarse_units(noisy, threshold):
    """The first stage's units, ``(first, last)`` buckets in order; none without a bucket besides zero.

    Every bucket that clears ``threshold`` is a unit; without one besides the
    zero bucket, there is no range. Then, below and above them, the
    outermost run of each of ``COARSE_RUNS`` buckets that clears is a unit: a
    run of ``w`` empty buckets has noise ``sqrt(w)`` times a bucket's, so its
    threshold is ``sqrt(w) * threshold``.
    """
    cleared = np.flatnonzero(np.nan_to_num(noisy, nan=-np.inf) >= threshold)
    if not np.any(cleared != _ZERO_BUCKET):
        return []
    units = [(bucket, bucket) for bucket in cleared]
    for width in COARSE_RUNS:
        starts = np.flatnonzero(np.nan_to_num(_window_sums(noisy, width), nan=-np.inf) >= math.sqrt(width) * threshold)
        below, above = starts[starts + width - 1 < units[0][0]], starts[starts > units[-1][1]]
        units = [(start, start + width - 1) for start in below[:1]] + units
        units += [(start, start + width - 1) for start in above[-1:]]
    return units


def _refined_edges(noisy, units, low, high, noise_std):
    """The second stage's bins: as many linear bins in each bucket of a unit, one per bucket between units.

    Their total is the units' noisy mass over ``BIN_MASS_STDS`` noise
    standard deviations, within ``MIN_REFINED_BINS`` and ``MAX_REFINED_BINS``,
    and each bucket of a unit gets at least one. Returns the edges, and the
    unit of each bin (-1 between units).
    """
    found = [bucket for first, last in units for bucket in range(first, last + 1)]
    n_bins = np.clip(round(np.nansum(noisy[found]) / (BIN_MASS_STDS * noise_std)), MIN_REFINED_BINS, MAX_REFINED_BINS)
    share = max(1, round(n_bins / len(found)))
    unit_of_bucket = {bucket: unit for unit, (first, last) in enumerate(units) for bucket in range(first, last + 1)}
    edges, unit_of_bin = [], []
    for bucket in range(units[0][0], units[-1][1] + 1):
        unit = unit_of_bucket.get(bucket, -1)
        bins = share if unit >= 0 else 1
        edges += list(np.linspace(max(_EDGES[bucket], low), min(_EDGES[bucket + 1], high), bins + 1)[:-1])
        unit_of_bin += [unit] * bins
    return np.array(edges + [min(_EDGES[units[-1][1] + 1], high)]), np.array(unit_of_bin)


def _refined_histogram(values, weights, edges, noise_std, generator):
    observed = ~np.isnan(values)
    inside = np.clip(values[observed], edges[0], edges[-1])
    bins = np.clip(np.searchsorted(edges, inside, side="right") - 1, 0, edges.size - 2)
    counts = np.bincount(bins, weights=weights[observed], minlength=edges.size - 1)
    return counts + noise_std * generator.standard_normal(edges.size - 1)


def _confirmed_units(refined, unit_of_bin, threshold):
    """The units whose second-stage mass clears ``threshold`` times the square root of their bins."""
    inside = unit_of_bin >= 0
    mass = np.bincount(unit_of_bin[inside], weights=refined[inside])
    return np.flatnonzero(mass >= threshold * np.sqrt(np.bincount(unit_of_bin[inside])))


def _kept_bins(noisy, core_threshold, extension_threshold):
    """The mass of the bins kept: those that clear the extension threshold, from the first core bin grown
    outward through contiguous such bins to the last; none without a core bin."""
    kept = np.zeros_like(noisy)
    core = np.flatnonzero(noisy >= core_threshold)
    if core.size == 0:
        return kept
    first, last = core[0], core[-1]
    while first > 0 and noisy[first - 1] >= extension_threshold:
        first -= 1
    while last < noisy.size - 1 and noisy[last + 1] >= extension_threshold:
        last += 1
    span = slice(first, last + 1)
    kept[span] = np.where(noisy[span] >= extension_threshold, noisy[span], 0.0)
    return kept


def _lower_quantile(edges, mass, quantile):
    """The ``quantile`` of ``mass`` over the bins of ``edges``, linear inside a bin."""
    cumulative = np.cumsum(mass) / mass.sum()
    bin_ = min(int(np.searchsorted(cumulative, quantile, side="right")), mass.size - 1)
    before = cumulative[bin_ - 1] if bin_ else 0.0
    fraction = (quantile - before) / (cumulative[bin_] - before)
    return edges[bin_] + fraction * (edges[bin_ + 1] - edges[bin_])


def _robust_range(edges, refined, unit_of_bin, quantile, threshold, extension_threshold):
    """The second stage's bounds: quantiles of the kept bins, never inside the outermost confirmed units.

    A unit whose second-stage mass clears the threshold holds data: if the
    kept span does not reach it, its bins that clear the extension threshold
    are kept too; and the lower bound is at most the upper edge of the lowest
    such unit, the upper bound at least the lower edge of the highest.
    Without a kept bin, the first stage's range. A range inside the zero
    bucket is no range (NaN).
    """
    confirmed = _confirmed_units(refined, unit_of_bin, threshold)
    kept = _kept_bins(refined, threshold, extension_threshold)
    span = np.flatnonzero(kept)
    for unit in confirmed:
        bins = np.flatnonzero((unit_of_bin == unit) & (refined >= extension_threshold))
        if not span.size or not np.any((bins >= span[0]) & (bins <= span[-1])):
            kept[bins] = refined[bins]
    if not kept.any():
        return edges[0], edges[-1]
    lower = _lower_quantile(edges, kept, quantile)
    upper = -_lower_quantile(-edges[::-1], kept[::-1], quantile)
    if confirmed.size:
        lower = min(lower, edges[np.flatnonzero(unit_of_bin == confirmed[0])[-1] + 1])
        upper = max(upper, edges[np.flatnonzero(unit_of_bin == confirmed[-1])[0]])
    if -(2.0**MIN_EXPONENT) <= lower and upper <= 2.0**MIN_EXPONENT:
        return np.nan, np.nan
    return lower, upper


def _release_ranges(values, weights, bounds, quantiles, noise_std, seed, purposes, empty_bucket_probability):
    """Both stages for features given as lists of values and weights; see :func:`release_numeric_ranges`."""
    n_features = len(values)
    live = np.array([_live_buckets(low, high) for low, high in bounds]).reshape(n_features, _N_BUCKETS)
    coarse_threshold = noise_std * norm.isf(empty_bucket_probability / max((1 + len(COARSE_RUNS)) * live.sum(), 1))
    result = {name: np.full(n_features, np.nan) for name in
              ("lower", "upper", "coarse_lower", "coarse_upper", "missing_counts", "refined_thresholds")}
    result["coarse_counts"] = np.full((n_features, _N_BUCKETS), np.nan)
    refined_edges, refined_counts = [np.zeros(0)] * n_features, [np.zeros(0)] * n_features
    for feature in range(n_features):
        low, high = bounds[feature]
        column = np.clip(values[feature], low, high)
        noisy, missing = _coarse_histogram(column, weights[feature], live[feature], noise_std,
                                           _generator(seed, purposes[0], feature))
        result["coarse_counts"][feature], result["missing_counts"][feature] = noisy, missing
        units = _coarse_units(noisy, coarse_threshold)
        if not units:
            continue
        result["coarse_lower"][feature] = max(_EDGES[units[0][0]], low)
        result["coarse_upper"][feature] = min(_EDGES[units[-1][1] + 1], high)
        edges, unit_of_bin = _refined_edges(noisy, units, low, high, noise_std)
        refined = _refined_histogram(column, weights[feature], edges, noise_std, _generator(seed, purposes[1], feature))
        threshold = noise_std * norm.isf(empty_bucket_probability / (refined.size * n_features))
        refined_edges[feature], refined_counts[feature] = edges, refined
        result["refined_thresholds"][feature] = threshold
        result["lower"][feature], result["upper"][feature] = _robust_range(
            edges, refined, unit_of_bin, quantiles[feature], threshold, EXTENSION_STDS * noise_std
        )
    return NumericRanges(noise_std=noise_std, coarse_threshold=float(coarse_threshold),
                         refined_edges=tuple(refined_edges), refined_counts=tuple(refined_counts), **result)


def _as_numeric(X, name):
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must hold numbers (missing values as NaN or None): {error}.") from None
    if X.ndim != 2:
        raise ValueError(f"{name} has shape {X.shape}; pass a 2-D array, one column per feature.")
    return X


def release_numeric_ranges(X, *, noise, seed, public_bounds=None, groups=None,
                           quantile=ROBUST_QUANTILE, empty_bucket_probability=EMPTY_BUCKET_PROBABILITY):
    """DP robust ranges of numeric features, from a data-free grid refined by linear bins.

    See the module's documentation for the two stages and their thresholds.
    The release is two histograms per feature, with ``noise.noise_std``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Numbers; NaN or None for missing values; infinities are allowed.
    noise : MetadataNoise
        The noise of the whole metadata release; it counts these features
        among its ``n_numeric``.
    seed : numpy.random.SeedSequence
        Used by no other release.
    public_bounds : array-like of shape (n_features, 2), default=None
        Public (low, high) per feature: values are clipped to them, the grid
        keeps the buckets inside them, and the DP range lies within them.
        Use ``-inf`` or ``inf`` for a side without a public bound (for
        example ``(0, inf)`` for amounts); None: no public bounds.
    groups : array-like of shape (n_samples,), default=None
        The person of each row, for person-level privacy: each of a person's
        ``k`` rows weighs ``1 / k``. None: each row is a unit.
    quantile : float, default=0.01
        The range approximates the ``quantile`` and ``1 - quantile``
        quantiles, in [0, 0.5).
    empty_bucket_probability : float, default=1e-4
        The probability that an empty bucket (or refined bin) clears its
        threshold anywhere in the release.

    Returns
    -------
    NumericRanges

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn._dp_metadata import MetadataNoise, release_numeric_ranges
    >>> rng = np.random.default_rng(0)
    >>> ages = rng.integers(18, 80, size=(30_000, 1))
    >>> ranges = release_numeric_ranges(ages, noise=MetadataNoise(8.0, n_numeric=1),
    ...                                 seed=np.random.SeedSequence(1))
    >>> ranges.coarse_lower, ranges.coarse_upper
    (array([16.]), array([128.]))
    >>> ranges.lower.round(1), ranges.upper.round(1)
    (array([18.1]), array([79.5]))
    """
    X = _as_numeric(X, "X")
    n_samples, n_features = X.shape
    _check_noise(noise, n_features, "n_numeric", "release_numeric_ranges")
    _check_seed(seed)
    if not 0.0 <= quantile < 0.5:
        raise ValueError(f"quantile={quantile!r}; use a value in [0, 0.5), for example 0.01.")
    if not 0.0 < empty_bucket_probability < 1.0:
        raise ValueError(f"empty_bucket_probability={empty_bucket_probability!r}; use a value in (0, 1), "
                         "for example 1e-4.")
    weights, _ = _unit_weights(n_samples, groups)
    bounds = _check_bounds(public_bounds, n_features)
    return _release_ranges(list(X.T), [weights] * n_features, bounds, [quantile] * n_features,
                           noise.noise_std, seed, (_STAGE_ONE, _STAGE_TWO), empty_bucket_probability)


def signed_log(X, scale=SIGNED_LOG_SCALE):
    """The data-free encoding of a numeric feature without a range: ``sign(x) * log1p(|x|) / scale``.

    It needs nothing from the data, so it costs no privacy. It keeps the
    order of values and their sign, and spreads values of every magnitude:
    ``0`` stays 0, ages and counts land near 0.2-0.5, amounts of thousands to
    millions near 0.7-1.4, so a column that is mostly zeros keeps its
    nonzero values apart.

    Parameters
    ----------
    X : array-like
        Numbers; NaN stays NaN, infinities stay infinite.
    scale : float, default=10.0
        Public; ``|x| = e^scale`` maps to 1.

    Returns
    -------
    ndarray
        Of the shape of ``X``.

    Examples
    --------
    >>> from sk_privattn._dp_metadata import signed_log
    >>> signed_log([0.0, -1.0, 40.0, 1e6]).round(3)
    array([ 0.   , -0.069,  0.371,  1.382])
    """
    X = np.asarray(X, dtype=float)
    return np.sign(X) * np.log1p(np.abs(X)) / float(scale)


def _category_key(value):
    """An orderable, hashable key for a category, or None for a missing value.

    Numpy scalars become Python ones; equal numbers share a key (``1``,
    ``1.0`` and ``np.int64(1)``); other objects than booleans, numbers,
    strings and bytes are compared by their ``repr``.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return (0, value)
    if isinstance(value, numbers.Real):
        value = float(value) if not isinstance(value, numbers.Integral) else int(value)
        return (1, int(value) if isinstance(value, float) and value.is_integer() else value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, bytes):
        return (3, value)
    return (4, f"{type(value).__qualname__}: {value!r}")


def _key_hash(key):
    """128 bits of BLAKE2b of the key: the same in every process, unlike ``hash``."""
    return int.from_bytes(hashlib.blake2b(repr(key).encode(), digest_size=16).digest(), "little")


def _category_counts(column, person):
    """The count of each category; with ``person``, a person counts once, for their most frequent category."""
    keys = [_category_key(value) for value in column]
    if person is None:
        return Counter(key for key in keys if key is not None)
    held_by = defaultdict(Counter)
    for key, who in zip(keys, person):
        if key is not None:
            held_by[who][key] += 1
    return Counter(min(held, key=lambda key: (-held[key], key)) for held in held_by.values())


@dataclass(frozen=True)
class ReleasedCategories:
    """Categories released by Gaussian partition selection (:func:`release_categories`).

    Attributes
    ----------
    categories : tuple of tuple
        Per feature, the released categories, sorted (booleans, then numbers,
        then strings, then bytes, then other objects by ``repr``).
    counts : tuple of ndarray
        Per feature, the noisy count of each released category.
    threshold : float
        A key is released when its noisy count reaches it.
    noise_std : float
    delta : float
        The δ the release adds outside the PLD, all features together
        (:func:`partition_delta` per feature).
    """

    categories: tuple
    counts: tuple
    threshold: float
    noise_std: float
    delta: float


def _release_keys(column, person, noise_std, threshold, seed, purpose, feature, max_categories):
    counts = _category_counts(column, person)
    released = []
    for key in sorted(counts):
        noisy = counts[key] + noise_std * _generator(seed, purpose, feature, _key_hash(key)).standard_normal()
        if noisy >= threshold:
            released.append((key, noisy))
    if max_categories is not None and len(released) > max_categories:
        released = sorted(sorted(released, key=lambda item: -item[1])[:max_categories])
    return tuple(key[1] for key, _ in released), np.array([noisy for _, noisy in released])


def _partition_release(columns, *, noise, seed, delta, relation, groups, max_categories, purpose, what):
    _check_noise(noise, len(columns), "n_categorical", what)
    _check_seed(seed)
    if max_categories is not None and not (isinstance(max_categories, numbers.Integral) and max_categories >= 1):
        raise ValueError(f"max_categories={max_categories!r}; use an int >= 1, or None for no limit.")
    if not columns:
        return ReleasedCategories((), (), math.nan, noise.noise_std, 0.0)
    threshold = partition_threshold(noise.noise_std, delta / len(columns), relation)
    person = None if groups is None else _unit_weights(len(columns[0]), groups)[1]
    released = [
        _release_keys(column, person, noise.noise_std, threshold, seed, purpose, feature, max_categories)
        for feature, column in enumerate(columns)
    ]
    spent = len(columns) * partition_delta(noise.noise_std, threshold, relation)
    return ReleasedCategories(tuple(keys for keys, _ in released), tuple(counts for _, counts in released),
                              threshold, noise.noise_std, spent)


def release_categories(X, *, noise, seed, delta, relation, groups=None, max_categories=None):
    """DP categories of categorical features, by Gaussian partition selection.

    A category is released when its count plus Gaussian noise of
    ``noise.noise_std`` reaches a threshold set so that the release adds at
    most ``delta`` to δ (outside the PLD; see :func:`partition_delta`).
    Missing values (None, NaN) are never a category. Each key's noise is drawn
    from a generator of ``seed``, the feature and a hash of the key alone, so
    that two neighbouring data sets get the same noise on the keys they share,
    and the output is sorted, so nothing depends on the keys that were not
    released.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Booleans, numbers, strings or bytes; other objects are released as
        the string ``"TypeName: repr"``.
    noise : MetadataNoise
        It counts these features among its ``n_categorical``.
    seed : numpy.random.SeedSequence
        Used by no other release.
    delta : float
        The δ the release may add, all features together, in (0, 1).
    relation : dp_accounting.NeighboringRelation
    groups : array-like of shape (n_samples,), default=None
        The person of each row: a person then counts once per feature, for
        the category of most of their rows (ties: the smallest), so that one
        person adds at most one key per feature.
    max_categories : int, default=None
        If more categories pass the threshold, only the ``max_categories``
        with the largest noisy counts are kept (post-processing).

    Returns
    -------
    ReleasedCategories

    Examples
    --------
    >>> import numpy as np
    >>> from dp_accounting import NeighboringRelation
    >>> from sk_privattn._dp_metadata import MetadataNoise, release_categories
    >>> colours = np.array(["red"] * 600 + ["blue"] * 400 + ["mauve"])[:, None]
    >>> released = release_categories(colours, noise=MetadataNoise(8.0, n_categorical=1),
    ...                               seed=np.random.SeedSequence(0), delta=1e-6,
    ...                               relation=NeighboringRelation.ADD_OR_REMOVE_ONE)
    >>> released.categories, round(released.threshold, 1)
    ((('blue', 'red'),), 39.0)
    """
    X = np.asarray(X, dtype=object)
    if X.ndim != 2:
        raise ValueError(f"X has shape {X.shape}; pass a 2-D array, one column per categorical feature.")
    return _partition_release(list(X.T), noise=noise, seed=seed, delta=delta, relation=relation, groups=groups,
                              max_categories=max_categories, purpose=_CATEGORIES, what="release_categories")


def release_classes(y, *, noise, seed, delta, relation, groups=None):
    """DP classes of an unknown label domain: :func:`release_categories` of ``y``.

    A class is released when its count, plus noise, reaches the threshold
    (``threshold`` of the result). With ``m = 8`` and the 21 histograms of a
    table of 6 numeric and 8 categorical features, the noise has a standard
    deviation of 37 rows, the threshold at ``delta = 1e-7`` is 192 rows, and
    a class needs about 252 rows to be released with probability 95 %: a
    class of 5 % of 2,000 rows (100 rows) is released with probability
    0.6 %. Pass the classes when they are public (a label's type often fixes
    them): they then cost nothing. Rows of a class that is not released keep
    no label the model can learn; the caller should weigh them zero.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    noise : MetadataNoise
        It counts the label among its ``n_categorical``.
    seed : numpy.random.SeedSequence
        Used by no other release.
    delta : float
        The δ the release may add, in (0, 1).
    relation : dp_accounting.NeighboringRelation
    groups : array-like of shape (n_samples,), default=None
        The person of each row (see :func:`release_categories`).

    Returns
    -------
    ReleasedCategories
        With one feature: ``categories[0]`` are the classes.

    Examples
    --------
    >>> import numpy as np
    >>> from dp_accounting import NeighboringRelation
    >>> from sk_privattn._dp_metadata import MetadataNoise, release_classes
    >>> y = np.array([0] * 900 + [1] * 300 + [2])
    >>> release_classes(y, noise=MetadataNoise(8.0, n_categorical=1), seed=np.random.SeedSequence(0),
    ...                 delta=1e-7, relation=NeighboringRelation.ADD_OR_REMOVE_ONE).categories
    ((0, 1),)
    """
    y = np.asarray(y, dtype=object)
    if y.ndim != 1:
        raise ValueError(f"y has shape {y.shape}; pass one label per row, shape (n_samples,).")
    return _partition_release([y], noise=noise, seed=seed, delta=delta, relation=relation, groups=groups,
                              max_categories=None, purpose=_CLASSES, what="release_classes")


@dataclass(frozen=True)
class SeriesMetadata:
    """DP value ranges and length of time series (:func:`release_series_metadata`).

    Attributes
    ----------
    ranges : NumericRanges
        One feature per channel, pooling the values of every series, then the
        series' length (its range spans the kept bins, ``quantile=0``).
    """

    ranges: NumericRanges

    @property
    def value_lower(self):
        """The robust lower bound of each channel's values; NaN without one."""
        return self.ranges.lower[:-1]

    @property
    def value_upper(self):
        """The robust upper bound of each channel's values; NaN without one."""
        return self.ranges.upper[:-1]

    @property
    def max_length(self):
        """The released upper bound of the series' lengths (an int), or None without one."""
        upper = self.ranges.upper[-1]
        return None if np.isnan(upper) else int(math.ceil(upper))


def _series_columns(series, n_channels, weights):
    """Per channel, the values of every series and their weights ``weight / length``; then the lengths."""
    values, value_weights, lengths = [[] for _ in range(n_channels)], [[] for _ in range(n_channels)], []
    for index, one in enumerate(series):
        one = _as_numeric(np.asarray(one)[:, None] if np.ndim(one) == 1 else one, f"series[{index}]")
        if one.shape[1] != n_channels:
            raise ValueError(f"series[{index}] has {one.shape[1]} channels; every series needs n_channels="
                             f"{n_channels}, shape (length, {n_channels}).")
        lengths.append(len(one))
        for channel in range(n_channels):
            values[channel].append(one[:, channel])
            value_weights[channel].append(np.full(len(one), weights[index] / max(len(one), 1)))
    join = [np.concatenate(parts) if parts else np.zeros(0) for parts in (*values, *value_weights)]
    return join[:n_channels] + [np.asarray(lengths, dtype=float)], join[n_channels:] + [weights]


def release_series_metadata(series, *, n_channels, noise, seed, public_bounds=None, groups=None,
                            quantile=ROBUST_QUANTILE, empty_bucket_probability=EMPTY_BUCKET_PROBABILITY):
    """DP ranges of a time-series classifier's values, per channel, and an upper bound of the lengths.

    The values of all series are pooled per channel, each series' values at
    weight ``1 / length``, so that one series adds weight 1 to each channel's
    histogram; the lengths form one more histogram, on the power-of-two grid
    from 1 (then refined). The release is two histograms per channel and two
    for the length, as in :func:`release_numeric_ranges`.

    Parameters
    ----------
    series : sequence of array-like
        Each of shape (length,) or (length, n_channels); NaN for a missing value.
    n_channels : int
        The public number of channels.
    noise : MetadataNoise
        It counts ``n_channels + 1`` features among its ``n_numeric``.
    seed : numpy.random.SeedSequence
        Used by no other release.
    public_bounds : array-like of shape (n_channels, 2), default=None
        Public (low, high) of each channel's values.
    groups : array-like of shape (n_series,), default=None
        The person of each series, whose ``k`` series then weigh ``1 / k``.
    quantile : float, default=0.01
    empty_bucket_probability : float, default=1e-4

    Returns
    -------
    SeriesMetadata

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn._dp_metadata import MetadataNoise, release_series_metadata
    >>> rng = np.random.default_rng(0)
    >>> series = [rng.normal(20.0, 2.0, size=(rng.integers(50, 101), 1)) for _ in range(20_000)]
    >>> released = release_series_metadata(series, n_channels=1, noise=MetadataNoise(8.0, n_numeric=2),
    ...                                    seed=np.random.SeedSequence(0))
    >>> released.value_lower.round(1), released.value_upper.round(1), released.max_length
    (array([15.8]), array([24.4]), 101)
    """
    if not (isinstance(n_channels, numbers.Integral) and n_channels >= 1):
        raise ValueError(f"n_channels={n_channels!r}; use the number of channels of the series, an int >= 1.")
    _check_noise(noise, n_channels + 1, "n_numeric", "release_series_metadata")
    _check_seed(seed)
    weights, _ = _unit_weights(len(series), groups)
    values, value_weights = _series_columns(series, n_channels, weights)
    bounds = np.vstack([_check_bounds(public_bounds, n_channels), [[1.0, np.inf]]])
    ranges = _release_ranges(values, value_weights, bounds, [quantile] * n_channels + [0.0], noise.noise_std,
                             seed, (_SERIES_ONE, _SERIES_TWO), empty_bucket_probability)
    return SeriesMetadata(ranges)
