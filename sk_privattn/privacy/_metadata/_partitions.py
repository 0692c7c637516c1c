"""DP categories and classes: Gaussian partition selection of the keys that the data hold."""

import hashlib
import math
import numbers
from dataclasses import dataclass

import numpy as np

from ._counts import ArrayCounts
from ._noise import (
    _CATEGORIES,
    _CLASSES,
    _check_noise,
    _check_seed,
    _generator,
    _unit_weights,
    partition_delta,
    partition_threshold,
)

__all__ = ["ReleasedCategories", "release_categories", "release_categories_of", "release_classes"]


def _key_hash(key):
    """128 bits of BLAKE2b of the key: the same in every process, unlike ``hash``."""
    return int.from_bytes(hashlib.blake2b(repr(key).encode(), digest_size=16).digest(), "little")


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


def _release_keys(counts, noise_std, threshold, seed, purpose, feature, max_categories):
    released = []
    for key in sorted(counts):
        noisy = counts[key] + noise_std * _generator(seed, purpose, feature, _key_hash(key)).standard_normal()
        if noisy >= threshold:
            released.append((key, noisy))
    if max_categories is not None and len(released) > max_categories:
        released = sorted(sorted(released, key=lambda item: -item[1])[:max_categories])
    return tuple(key[1] for key, _ in released), np.array([noisy for _, noisy in released])


def _partition_release(columns, *, noise, seed, delta, relation, max_categories, purpose, what):
    """Partition selection of the keys of ``columns`` (a :class:`~._counts.ColumnCounts`)."""
    _check_noise(noise, columns.n_features, "n_categorical", what)
    _check_seed(seed)
    if max_categories is not None and not (isinstance(max_categories, numbers.Integral) and max_categories >= 1):
        raise ValueError(f"max_categories={max_categories!r}; use an int >= 1, or None for no limit.")
    if not columns.n_features:
        return ReleasedCategories((), (), math.nan, noise.noise_std, 0.0)
    threshold = partition_threshold(noise.noise_std, delta / columns.n_features, relation)
    released = [
        _release_keys(counts, noise.noise_std, threshold, seed, purpose, feature, max_categories)
        for feature, counts in enumerate(columns.keys())
    ]
    spent = columns.n_features * partition_delta(noise.noise_std, threshold, relation)
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
    >>> from sk_privattn.privacy._metadata import MetadataNoise, release_categories
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
    return release_categories_of(_key_columns(list(X.T), groups), noise=noise, seed=seed, delta=delta,
                                 relation=relation, max_categories=max_categories)


def _key_columns(columns, groups):
    person = None if groups is None or not columns else _unit_weights(len(columns[0]), groups)[1]
    return ArrayCounts(columns, [None] * len(columns), person)


def release_categories_of(columns, *, noise, seed, delta, relation, max_categories=None, purpose=_CATEGORIES):
    """:func:`release_categories` of the columns whose counts per key ``columns`` (a
    :class:`~._counts.ColumnCounts`) gives: in memory or summed over partitions; with
    ``purpose=_CLASSES``, :func:`release_classes`."""
    return _partition_release(columns, noise=noise, seed=seed, delta=delta, relation=relation,
                              max_categories=max_categories, purpose=purpose,
                              what="release_classes" if purpose == _CLASSES else "release_categories")


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
    >>> from sk_privattn.privacy._metadata import MetadataNoise, release_classes
    >>> y = np.array([0] * 900 + [1] * 300 + [2])
    >>> release_classes(y, noise=MetadataNoise(8.0, n_categorical=1), seed=np.random.SeedSequence(0),
    ...                 delta=1e-7, relation=NeighboringRelation.ADD_OR_REMOVE_ONE).categories
    ((0, 1),)
    """
    y = np.asarray(y, dtype=object)
    if y.ndim != 1:
        raise ValueError(f"y has shape {y.shape}; pass one label per row, shape (n_samples,).")
    return release_categories_of(_key_columns([y], groups), noise=noise, seed=seed, delta=delta,
                                 relation=relation, purpose=_CLASSES)


