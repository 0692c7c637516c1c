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

from ._noise import DEFAULT_NOISE_MULTIPLIER, MetadataNoise, histogram_dp_event, partition_delta, partition_threshold
from ._partitions import ReleasedCategories, release_categories, release_classes
from ._ranges import (
    BIN_MASS_STDS,
    COARSE_RUNS,
    EMPTY_BUCKET_PROBABILITY,
    EXTENSION_STDS,
    MAX_EXPONENT,
    MAX_REFINED_BINS,
    MIN_EXPONENT,
    MIN_REFINED_BINS,
    ROBUST_QUANTILE,
    SIGNED_LOG_SCALE,
    NumericRanges,
    release_numeric_ranges,
    signed_log,
)
from ._release import (
    FROM_DATA,
    PARTITION_DELTA_SHARE,
    MetadataRelease,
    UnpublishedMetadata,
    plan_metadata,
    reads_data,
)
from ._series import SeriesMetadata, release_series_metadata

__all__ = [
    "BIN_MASS_STDS",
    "COARSE_RUNS",
    "DEFAULT_NOISE_MULTIPLIER",
    "FROM_DATA",
    "EMPTY_BUCKET_PROBABILITY",
    "EXTENSION_STDS",
    "MAX_EXPONENT",
    "MAX_REFINED_BINS",
    "MIN_EXPONENT",
    "MIN_REFINED_BINS",
    "ROBUST_QUANTILE",
    "SIGNED_LOG_SCALE",
    "UnpublishedMetadata",
    "MetadataNoise",
    "MetadataRelease",
    "PARTITION_DELTA_SHARE",
    "NumericRanges",
    "ReleasedCategories",
    "SeriesMetadata",
    "histogram_dp_event",
    "partition_delta",
    "partition_threshold",
    "plan_metadata",
    "reads_data",
    "release_categories",
    "release_classes",
    "release_numeric_ranges",
    "release_series_metadata",
    "signed_log",
]
