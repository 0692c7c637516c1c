"""What one fit releases of its metadata, planned from the schema alone: :class:`MetadataRelease`.

The plan of a fit composes the metadata release with DP-SGD before any row is
read, so the release is planned from the public schema and parameters: how many
numeric ranges, category lists and label domains the fit will release
(:class:`~._noise.MetadataNoise`), under which relation, with which share of δ
for partition selection, and from which seed. The estimators then call the
releases through it, each purpose with a seed of its own.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

from .._terms import Relation
from ._noise import _CLASSES, MetadataNoise, histogram_dp_event
from ._partitions import release_categories, release_categories_of, release_classes
from ._ranges import release_numeric_ranges, release_ranges_of
from ._series import release_series_metadata

__all__ = [
    "FROM_DATA",
    "PARTITION_DELTA_SHARE",
    "MetadataRelease",
    "UnpublishedMetadata",
    "plan_metadata",
    "reads_data",
]

#: The share of a fit's δ that partition selection (DP categories and classes) may add, outside
#: the accountant; the accountant composes at the rest.
PARTITION_DELTA_SHARE = 0.1


@dataclass(frozen=True)
class MetadataRelease:
    """The DP metadata release of one fit.

    Attributes
    ----------
    noise : MetadataNoise
        Its Gaussian noise, from the schema: every histogram of the release
        (two per numeric range, one per category list or label domain).
    relation : Relation
    n_partitions : int
        The category lists and label domains released by partition selection.
    entropy : int
        The entropy of the release's seeds (from the fit's training seed).
    groups : array-like or None
        The person of each row, at person level (each of a person's ``k`` rows
        weighs ``1 / k``).
    partition_delta : float
        The δ that partition selection may add, all its features together
        (the plan's ``partition_delta``, set once the plan is made).
    source : object or None
        Where the histograms come from when the rows are not in memory (a Dask
        ``X``: :class:`~sk_privattn.data._dask_metadata.PartitionedSource`, whose
        ``counts(columns)`` and ``target_counts()`` are summed over the partitions);
        ``None``: from the arrays that the methods are given.
    """

    noise: MetadataNoise
    relation: Relation
    n_partitions: int
    entropy: int
    groups: object = None
    partition_delta: float = 0.0
    source: object = None

    def history(self):
        """The release as an accountant history: one Gaussian mechanism, ``[(z, 1.0, 1)]``."""
        event = histogram_dp_event(self.noise.noise_std, self.noise.n_histograms, self.relation.dp_accounting)
        return [(float(event.noise_multiplier), 1.0, 1)]

    def _seed(self, purpose):
        """The seed of one purpose ("numeric", "categories", ...): no two releases share noise."""
        key = int.from_bytes(hashlib.blake2b(purpose.encode(), digest_size=4).digest(), "little")
        return np.random.SeedSequence(self.entropy, spawn_key=(key,))

    def _partition_delta(self, n_features):
        """The δ that ``n_features`` of the partitions may add, of the fit's partition δ."""
        return self.partition_delta * n_features / self.n_partitions

    def numeric_ranges(self, X, public_bounds=None, *, purpose="numeric", columns=None):
        """DP robust ranges of the columns of ``X`` (:func:`~._ranges.release_numeric_ranges`): the
        input's columns at the positions ``columns``, or with ``purpose="target"`` the target."""
        if self.source is not None:
            counts = self.source.target_counts() if purpose == "target" else self.source.counts(columns)
            return release_ranges_of(counts, noise=self.noise, seed=self._seed(purpose), public_bounds=public_bounds)
        return release_numeric_ranges(X, noise=self.noise, seed=self._seed(purpose), public_bounds=public_bounds,
                                      groups=self.groups)

    def categories(self, X, columns=None):
        """DP categories of the columns of ``X``, the input's columns at the positions ``columns``
        (:func:`~._partitions.release_categories`)."""
        X = np.asarray(X, dtype=object)
        settings = dict(noise=self.noise, seed=self._seed("categories"), delta=self._partition_delta(X.shape[1]),
                        relation=self.relation.dp_accounting)
        if self.source is not None:
            return release_categories_of(self.source.counts(columns), **settings)
        return release_categories(X, groups=self.groups, **settings)

    def classes(self, y):
        """DP classes of ``y`` (:func:`~._partitions.release_classes`)."""
        settings = dict(noise=self.noise, seed=self._seed("classes"), delta=self._partition_delta(1),
                        relation=self.relation.dp_accounting)
        if self.source is not None:
            return release_categories_of(self.source.target_counts(), purpose=_CLASSES, **settings)
        return release_classes(y, groups=self.groups, **settings)

    def series(self, series, n_channels, public_bounds=None):
        """DP value ranges of each channel and upper length of ``series``."""
        return release_series_metadata(series, n_channels=n_channels, noise=self.noise, seed=self._seed("series"),
                                       public_bounds=public_bounds, groups=self.groups)


def plan_metadata(noise_multiplier, *, n_numeric, n_categorical, n_labels, relation, entropy, groups=None):
    """The :class:`MetadataRelease` of a fit that releases ``n_numeric`` ranges, ``n_categorical``
    category lists and ``n_labels`` label domains (0 or 1); ``None`` when it releases nothing."""
    if n_numeric + n_categorical + n_labels == 0:
        return None
    noise = MetadataNoise(float(noise_multiplier), n_numeric=int(n_numeric), n_categorical=int(n_categorical + n_labels))
    return MetadataRelease(noise, Relation(relation), int(n_categorical + n_labels), int(entropy), groups)


#: The value of ``bounds``, ``categories``, ``classes`` (and the like) that reads them from the training
#: data, with a PrivacyLeakWarning.
FROM_DATA = "data"


@dataclass(frozen=True)
class UnpublishedMetadata:
    """How a fit obtains the metadata (bounds, categories, classes) that it was not given.

    Attributes
    ----------
    release : MetadataRelease or None
        The fit's DP release (``None`` when it releases none).
    private : bool, default=True
        ``False`` without privacy (ε = inf): what is not given is read from the
        data, silently, since nothing is private.
    source : str, default="the training data"
        What the rows are, for the PrivacyLeakWarning of ``"data"``.
    unavailable : str or None, default=None
        Why this estimator releases no DP metadata (a federation), for the
        error of a fit that needs it; ``None`` where it does.
    """

    release: object = None
    private: bool = True
    source: str = "the training data"
    unavailable: str = None

    def require_release(self, parameter):
        """The release, or an error that says why there is none and what to pass."""
        if self.release is None:
            reason = self.unavailable or "no DP release of it was planned"
            raise ValueError(
                f"{parameter}=None asks for a DP release of the {parameter}, but {reason}. Pass public "
                f"{parameter}, or {parameter}={FROM_DATA!r} to read them from the data (warned)."
            )
        return self.release


def reads_data(value):
    """Whether a parameter's ``value`` asks to read it from the training data (``"data"``)."""
    return isinstance(value, str) and value == FROM_DATA
