"""DP robust ranges of numeric features: a data-free power-of-two grid, refined by linear bins
(see the package's documentation), and the data-free encoding of a feature without a range."""

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from ._counts import EDGES as _EDGES
from ._counts import MAX_EXPONENT, MIN_EXPONENT, ArrayCounts
from ._counts import N_BUCKETS as _N_BUCKETS
from ._counts import ZERO_BUCKET as _ZERO_BUCKET
from ._counts import live_buckets as _live_buckets
from ._noise import _STAGE_ONE, _STAGE_TWO, _check_noise, _check_seed, _generator, _unit_weights

__all__ = [
    "BIN_MASS_STDS",
    "COARSE_RUNS",
    "EMPTY_BUCKET_PROBABILITY",
    "EXTENSION_STDS",
    "MAX_EXPONENT",
    "MAX_REFINED_BINS",
    "MIN_EXPONENT",
    "MIN_REFINED_BINS",
    "NumericRanges",
    "ROBUST_QUANTILE",
    "SIGNED_LOG_SCALE",
    "release_numeric_ranges",
    "signed_log",
]

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


def _noisy_grid(counts, missing, live, noise_std, generator):
    """The grid's exact ``counts`` and ``missing`` weight of one feature plus noise (NaN off ``live``)."""
    noise = noise_std * generator.standard_normal(_N_BUCKETS + 1)
    return np.where(live, counts + noise[:-1], np.nan), float(missing + noise[-1])


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


def _release_ranges(columns, bounds, quantiles, noise_std, seed, purposes, empty_bucket_probability):
    """Both stages for the features of ``columns`` (:class:`~._counts.ColumnCounts`); see
    :func:`release_numeric_ranges`. Each stage reads all features' histograms at once (one pass
    over partitioned data per stage), and each feature's noise comes from its own generator."""
    n_features = columns.n_features
    live = np.array([_live_buckets(low, high) for low, high in bounds]).reshape(n_features, _N_BUCKETS)
    coarse_threshold = noise_std * norm.isf(empty_bucket_probability / max((1 + len(COARSE_RUNS)) * live.sum(), 1))
    result = {name: np.full(n_features, np.nan) for name in
              ("lower", "upper", "coarse_lower", "coarse_upper", "missing_counts", "refined_thresholds")}
    result["coarse_counts"] = np.full((n_features, _N_BUCKETS), np.nan)
    refined_edges, refined_counts = [np.zeros(0)] * n_features, [np.zeros(0)] * n_features
    units_of, unit_of_bins = [[] for _ in range(n_features)], [None] * n_features
    grid, missing = columns.grid(bounds)
    for feature in range(n_features):
        low, high = bounds[feature]
        noisy, result["missing_counts"][feature] = _noisy_grid(grid[feature], missing[feature], live[feature],
                                                               noise_std, _generator(seed, purposes[0], feature))
        result["coarse_counts"][feature] = noisy
        units_of[feature] = _coarse_units(noisy, coarse_threshold)
        if units_of[feature]:
            result["coarse_lower"][feature] = max(_EDGES[units_of[feature][0][0]], low)
            result["coarse_upper"][feature] = min(_EDGES[units_of[feature][-1][1] + 1], high)
            refined_edges[feature], unit_of_bins[feature] = _refined_edges(noisy, units_of[feature], low, high,
                                                                           noise_std)
    exact = columns.bins(refined_edges, bounds) if any(units_of) else [np.zeros(0)] * n_features
    for feature in range(n_features):
        if not units_of[feature]:
            continue
        edges = refined_edges[feature]
        refined = exact[feature] + noise_std * _generator(seed, purposes[1], feature).standard_normal(edges.size - 1)
        threshold = noise_std * norm.isf(empty_bucket_probability / (refined.size * n_features))
        refined_counts[feature] = refined
        result["refined_thresholds"][feature] = threshold
        result["lower"][feature], result["upper"][feature] = _robust_range(
            edges, refined, unit_of_bins[feature], quantiles[feature], threshold, EXTENSION_STDS * noise_std
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
    >>> from sk_privattn.privacy._metadata import MetadataNoise, release_numeric_ranges
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
    return release_ranges_of(ArrayCounts(list(X.T), [weights] * n_features), noise=noise, seed=seed,
                             public_bounds=public_bounds, quantile=quantile,
                             empty_bucket_probability=empty_bucket_probability)


def release_ranges_of(columns, *, noise, seed, public_bounds=None, quantile=ROBUST_QUANTILE,
                      empty_bucket_probability=EMPTY_BUCKET_PROBABILITY):
    """:func:`release_numeric_ranges` of the columns whose exact histograms ``columns`` (a
    :class:`~._counts.ColumnCounts`) gives: in memory or summed over partitions."""
    _check_noise(noise, columns.n_features, "n_numeric", "release_numeric_ranges")
    _check_seed(seed)
    bounds = _check_bounds(public_bounds, columns.n_features)
    return _release_ranges(columns, bounds, [quantile] * columns.n_features, noise.noise_std, seed,
                           (_STAGE_ONE, _STAGE_TWO), empty_bucket_probability)


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
    >>> from sk_privattn.privacy._metadata import signed_log
    >>> signed_log([0.0, -1.0, 40.0, 1e6]).round(3)
    array([ 0.   , -0.069,  0.371,  1.382])
    """
    X = np.asarray(X, dtype=float)
    return np.sign(X) * np.log1p(np.abs(X)) / float(scale)


