"""DP value ranges and length of time series, by the numeric ranges' two stages."""

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ._noise import _SERIES_ONE, _SERIES_TWO, _check_noise, _check_seed, _unit_weights
from ._counts import ArrayCounts
from ._ranges import EMPTY_BUCKET_PROBABILITY, ROBUST_QUANTILE, NumericRanges, _as_numeric, _check_bounds, _release_ranges

__all__ = ["SeriesMetadata", "release_series_metadata"]


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
    >>> from sk_privattn.privacy._metadata import MetadataNoise, release_series_metadata
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
    ranges = _release_ranges(ArrayCounts(values, value_weights), bounds, [quantile] * n_channels + [0.0], noise.noise_std,
                             seed, (_SERIES_ONE, _SERIES_TWO), empty_bucket_probability)
    return SeriesMetadata(ranges)
