"""Exact Poisson sampling of rows and persons at O(batch) cost per step.

DP-SGD's accountant composes the Poisson-subsampled Gaussian mechanism: at every
step each unit (a row, or a person) joins the batch independently with
probability ``q``. Tossing ``n`` coins per step, as Opacus'
``UniformWithReplacementSampler`` does, costs O(n) per step, so that a fit's cost
grows with n even when it runs a fixed number of steps. This module draws the
same distribution at O(B) per step, where B = n·q is the expected batch, and
keys every draw so that the rows of a partition, or of a person spread over
several partitions, are sampled where they live and agree wherever they are
drawn.

Rows: a binomial size, then a uniform subset
--------------------------------------------
Draw ``k ~ Binomial(n, q)``, then a uniform subset of ``k`` of the ``n`` rows
(``Generator.choice(n, k, replace=False)``: Floyd's algorithm with a hash set,
O(k), for ``k <= n / 20``; a partial shuffle, O(n), only when ``k`` is of the
order of ``n`` anyway). For any set ``S`` of ``s`` rows::

    P[S] = P[k = s] · 1 / C(n, s)
         = C(n, s) q^s (1 - q)^(n - s) / C(n, s)
         = q^s (1 - q)^(n - s),

which is the probability that ``n`` independent Bernoulli(q) coins select
exactly ``S``. The two mechanisms are the same distribution, so the accountant's
analysis holds unchanged. ``n`` is the exact number of rows of the data or of one
partition: it is used inside the mechanism only, while ``q`` comes from the
plan's public or DP count.

Persons: a keyed set of steps
-----------------------------
At person level a person's inclusion at a step must agree on every partition
that holds some of their rows, without a shuffle. So a person's set of steps
``A`` is a function of the secret and the person alone: ``c ~ Binomial(T, q)``
steps, then a uniform ``c``-subset of the ``T`` steps (Floyd's algorithm). By
the derivation above with ``T`` steps in place of ``n`` rows,
``P[A] = q^|A| (1 - q)^(T - |A|)``: each step is an independent Bernoulli(q)
coin, at O(1 + c) work per person instead of O(T). The uniform variates are the
64-bit words of a keyed hash of the person's canonical id, SHAKE256(key + id),
a pseudo-random function of the secret and the id whose output has the length
that the person's count needs. Word 0 gives the count by the binomial inverse
CDF, the next words the steps by Floyd's algorithm. Both read 53-bit uniforms, so
each probability is exact up to a relative error of about ``T · 2**-53``.
Distinct ids give independent streams, so persons are sampled independently of
each other, as the accountant assumes.

Canonical ids
~~~~~~~~~~~~~
An id ``3`` in one file and ``"3"`` in another must be one person, or that
person is sampled twice as often as the accountant assumes. The canonical form
of an id is text: integers (and floats or decimals with an integral value) as
their decimal digits, other finite floats as ``repr``, strings as themselves
(Unicode NFC), bytes decoded as UTF-8. So ``3``, ``3.0``, ``np.int64(3)`` and
``"3"`` are one person, while ``"03"`` and ``"3.0"`` are others: strings are
never parsed, since an id like ``"007"`` is a name, not a number. Booleans and
missing values (None, NaN) are refused.

Rows per person: bottom-k priorities
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
A sampled person brings at most ``max_rows_per_person`` (k) of their rows to a
step. Every candidate row gets a priority, an independent uniform keyed by the
partition and the step, and the person keeps the k rows of smallest priority.
The k smallest of a person's priorities over all partitions are the k smallest
of each partition's k smallest, so each partition sends at most k rows per
person and step, and a merge keeps the k smallest overall: a uniform k-subset
of the person's rows, drawn afresh at each step. The priorities are keyed by
partition and position, so which rows a person brings depends on how the data
is partitioned (their distribution does not); which persons a step samples
does not depend on it.

Seeds and the secret
--------------------
Every random stream has its own seed,
``SeedSequence(secret, spawn_key=(purpose, partition, step))``, with the
purposes below. A partition that is drawn again (a retried task) draws the same
sample. The secret must be unknown to whoever sees the trained model:
amplification by subsampling assumes that the sample is hidden, and a known
secret tells which steps used a given row or person. Draw it from the operating
system (:func:`new_secret`) unless a reproducible fit is worth that loss.
"""

import decimal
import hashlib
import math
import numbers
import secrets
import unicodedata

import numpy as np

__all__ = [
    "PERSON_KEY",
    "ROWS",
    "ROW_PRIORITY",
    "bottom_k",
    "canonical_id",
    "check_plan",
    "check_secret",
    "group_rows",
    "new_secret",
    "person_codes",
    "person_step_rows",
    "person_steps",
    "poisson_rows",
    "random_stream",
]

#: Purpose of the stream that draws a partition's rows at a step.
ROWS = 1
#: Purpose of the stream whose state keys the hash of person ids.
PERSON_KEY = 2
#: Purpose of the stream that draws the bottom-k priorities of a partition's rows at a step.
ROW_PRIORITY = 3

_FIRST_WORDS = 8  # words read for every person; those with more steps read more


def new_secret():
    """A fresh 128-bit secret from the operating system's entropy.

    Examples
    --------
    >>> from sk_privattn.dpsgd._poisson import new_secret
    >>> new_secret() != new_secret()
    True
    """
    return secrets.randbits(128)


def check_secret(secret):
    """``secret`` as an int, or a ValueError that names it.

    Raises
    ------
    ValueError
        When ``secret`` is not a non-negative integer.
    """
    if isinstance(secret, (bool, np.bool_)) or not isinstance(secret, numbers.Integral) or secret < 0:
        raise ValueError(
            f"secret must be a non-negative int (for example sk_privattn.dpsgd._poisson.new_secret()); got {secret!r}."
        )
    return int(secret)


def check_plan(steps, sample_rate):
    """``(steps, sample_rate)`` as ``(int, float)``, or a ValueError that names the bad one."""
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, the plan's number of steps; got {steps!r}.")
    if not isinstance(sample_rate, numbers.Real) or not 0.0 <= float(sample_rate) <= 1.0:
        raise ValueError(f"sample_rate must be a probability in [0, 1], the plan's q; got {sample_rate!r}.")
    return int(steps), float(sample_rate)


def random_stream(secret, purpose, partition=0, step=0):
    """The generator of one ``(purpose, partition, step)``, seeded from ``secret``.

    Parameters
    ----------
    secret : int
    purpose : int
        :data:`ROWS`, :data:`PERSON_KEY` or :data:`ROW_PRIORITY`.
    partition, step : int, default=0

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> from sk_privattn.dpsgd._poisson import ROWS, random_stream
    >>> a = random_stream(7, ROWS, partition=2, step=5).random()
    >>> b = random_stream(7, ROWS, partition=2, step=5).random()
    >>> a == b, a == random_stream(7, ROWS, partition=2, step=6).random()
    (True, False)
    """
    seed = np.random.SeedSequence(check_secret(secret), spawn_key=(int(purpose), int(partition), int(step)))
    return np.random.Generator(np.random.PCG64(seed))


def poisson_rows(n_rows, sample_rate, rng):
    """A Poisson sample of ``range(n_rows)`` at ``sample_rate``, in O(sample) time.

    A Binomial(n_rows, q) size, then a uniform subset of that size: the same
    distribution as one Bernoulli(q) coin per row (module docstring).

    Parameters
    ----------
    n_rows : int
        The exact number of rows; used inside the mechanism only.
    sample_rate : float
    rng : numpy.random.Generator
        The stream of this partition and step (:func:`random_stream`).

    Returns
    -------
    ndarray of int64
        The sampled positions, sorted.

    Examples
    --------
    >>> from sk_privattn.dpsgd._poisson import ROWS, poisson_rows, random_stream
    >>> rows = poisson_rows(1_000_000, 0.001, random_stream(0, ROWS, step=3))
    >>> 850 < len(rows) < 1150, bool((rows[1:] > rows[:-1]).all())
    (True, True)
    """
    size = int(rng.binomial(n_rows, sample_rate))
    rows = rng.choice(n_rows, size=size, replace=False, shuffle=False) if size else np.zeros(0, np.int64)
    return np.sort(rows).astype(np.int64, copy=False)


def canonical_id(value):
    """The canonical text of one person id (module docstring, "Canonical ids").

    Raises
    ------
    ValueError
        When the id is missing (None, NaN).
    TypeError
        When the id is a boolean or of a type without a canonical form.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn.dpsgd._poisson import canonical_id
    >>> [canonical_id(v) for v in (3, 3.0, np.int64(3), "3", "03", 2.5)]
    ['3', '3', '3', '3', '03', '2.5']
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"person_id holds the boolean {value!r}; give persons integer or string ids.")
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        raise ValueError("person_id holds a missing value; every row needs the id of its person.")
    if isinstance(value, (numbers.Real, decimal.Decimal)):  # float, numpy float, Decimal
        if not math.isfinite(value):
            raise ValueError(f"person_id holds {value!r}; every row needs the finite id of its person.")
        return str(math.floor(value)) if value == math.floor(value) else _non_integral_text(value)
    raise TypeError(
        f"person_id holds {value!r} of type {type(value).__name__}; give persons integer or string ids."
    )


def _non_integral_text(value):
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return format(value.normalize(), "f")  # decimal.Decimal


def person_codes(person_id):
    """The distinct canonical ids and each row's position among them.

    Only the distinct raw values are canonicalised, so a column of integers
    or strings costs one :func:`numpy.unique` and one Python call per person.

    Parameters
    ----------
    person_id : array-like of shape (n_rows,)

    Returns
    -------
    ids : ndarray of str (object)
        The distinct canonical ids, sorted.
    code : ndarray of intp
        ``ids[code[i]]`` is the person of row ``i``.

    Examples
    --------
    >>> from sk_privattn.dpsgd._poisson import person_codes
    >>> ids, code = person_codes(["7", 3, 7.0, "03"])
    >>> ids.tolist(), code.tolist()
    (['03', '3', '7'], [2, 1, 2, 0])
    """
    values = np.asarray(person_id, dtype=object if _mixed(person_id) else None)
    if values.ndim != 1:
        raise ValueError(f"person_id must be one id per row (1-D); got an array of shape {values.shape}.")
    if values.dtype.kind == "b":
        raise TypeError("person_id is boolean; give persons integer or string ids.")
    try:
        raw, raw_code = np.unique(values, return_inverse=True)
    except TypeError:  # ids of several types that do not compare: canonicalise each row
        raw, raw_code = values, np.arange(len(values))
    text = np.array([canonical_id(value) for value in raw.tolist()], dtype=object)
    ids, code = np.unique(text, return_inverse=True) if len(text) else (text, np.zeros(0, np.intp))
    return ids, code[raw_code].astype(np.intp, copy=False)


def _mixed(values):
    return isinstance(values, (list, tuple)) and len({type(v) for v in values}) > 1


def _person_hash_key(secret):
    state = np.random.SeedSequence(check_secret(secret), spawn_key=(PERSON_KEY, 0, 0)).generate_state(8)
    return state.astype("<u4").tobytes()  # 32 bytes


def _keyed_words(ids, key, n_words):
    """The first ``n_words`` 64-bit words of each id's keyed stream, SHAKE256(key + id).

    An extendable-output hash gives a person's whole stream in one call, of the
    length that their count needs, and its outputs of different lengths agree
    on their common prefix: word ``w`` of a person is the same whoever reads it.
    With a fixed-length key in front, SHAKE256 is a pseudo-random function of
    the id (the keyed sponge that KMAC standardises).
    """
    length = 8 * int(n_words)
    digests = b"".join(hashlib.shake_256(key + i.encode("utf-8")).digest(length) for i in ids)
    return np.frombuffer(digests, dtype="<u8").reshape(len(ids), int(n_words))


def _uniform(words):
    """53-bit uniforms in [0, 1) from 64-bit words."""
    return (words >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _binomial_cdf(n, p):
    """``P[K <= k]`` for ``K ~ Binomial(n, p)``, k = 0..n; the last entry exactly 1."""
    if p == 0.0 or p == 1.0:
        cdf = np.zeros(n + 1) if p == 1.0 else np.ones(n + 1)
        cdf[-1] = 1.0
        return cdf
    k = np.arange(1, n + 1, dtype=np.float64)
    log_choose = np.concatenate([[0.0], np.cumsum(np.log((n - k + 1) / k))])
    ks = np.arange(n + 1, dtype=np.float64)
    log_pmf = log_choose + ks * math.log(p) + (n - ks) * math.log1p(-p)
    cdf = np.cumsum(np.exp(log_pmf - log_pmf.max()))
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    return cdf


def person_steps(ids, *, steps, sample_rate, secret):
    """The steps at which each person is sampled: a keyed function of (secret, id).

    Word 0 of the person's keyed stream gives the count ``c ~ Binomial(T, q)``
    (inverse CDF), the next words the ``c`` steps, by Floyd's algorithm on the
    smaller of the ``c`` steps and the ``T - c`` others (whose complement is as
    uniform), so that a rate near 1 costs no more than a rate near 0.

    Parameters
    ----------
    ids : sequence of str
        Canonical ids (:func:`person_codes`).
    steps : int
        The plan's T.
    sample_rate : float
        The plan's q.
    secret : int

    Returns
    -------
    person : ndarray of intp
        Position in ``ids``, repeated once per step of that person.
    step : ndarray of int64
        The step of each entry; each person's steps are distinct.

    Examples
    --------
    >>> from sk_privattn.dpsgd._poisson import person_steps
    >>> person, step = person_steps(["3", "4"], steps=100, sample_rate=0.05, secret=1)
    >>> again = person_steps(["4"], steps=100, sample_rate=0.05, secret=1)
    >>> sorted(step[person == 1]) == sorted(again[1])
    True
    """
    steps, sample_rate = check_plan(steps, sample_rate)
    ids = list(ids)
    key = _person_hash_key(secret)
    first = _keyed_words(ids, key, _FIRST_WORDS)
    count = np.searchsorted(_binomial_cdf(steps, sample_rate), _uniform(first[:, 0]), side="right")
    person, step = [np.zeros(0, np.intp)], [np.zeros(0, np.int64)]
    for c in np.unique(count[count > 0]):
        members = np.flatnonzero(count == c)
        drawn = min(c, steps - c)  # the complement of a uniform subset is uniform: draw the smaller
        words = first[members] if drawn < _FIRST_WORDS else _keyed_words([ids[i] for i in members], key, drawn + 1)
        subset = _floyd(_uniform(words[:, 1 : drawn + 1]), steps)
        person.append(np.repeat(members, c))
        step.append((subset if drawn == c else _complement(subset, steps)).ravel())
    return np.concatenate(person).astype(np.intp, copy=False), np.concatenate(step)


def _complement(subset, n):
    """Each row's complement in ``range(n)``, one row per person."""
    inside = np.zeros((len(subset), n), dtype=bool)
    inside[np.arange(len(subset))[:, None], subset] = True
    return np.nonzero(~inside)[1].reshape(len(subset), -1)


def _floyd(uniform, n):
    """Floyd's algorithm, one row per person: a uniform ``c``-subset of ``range(n)`` from ``c`` uniforms."""
    m, c = uniform.shape
    chosen = np.empty((m, c), dtype=np.int64)
    for r in range(c):
        top = n - c + r  # draw t in [0, top]; take top if t is already chosen
        draw = np.minimum((uniform[:, r] * (top + 1)).astype(np.int64), top)
        taken = (chosen[:, :r] == draw[:, None]).any(axis=1)
        chosen[:, r] = np.where(taken, top, draw)
    return chosen


def bottom_k(group, priority, k):
    """The mask of the ``k`` rows of smallest priority in each group.

    Ties (probability about 2**-53 per pair) go to the earlier row.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn.dpsgd._poisson import bottom_k
    >>> bottom_k(np.array([0, 0, 0, 1]), np.array([0.5, 0.1, 0.3, 0.9]), 2).tolist()
    [False, True, True, True]
    """
    group = np.asarray(group)
    order = np.lexsort((priority, group))
    sorted_group = group[order]
    starts = np.r_[True, sorted_group[1:] != sorted_group[:-1]]
    start_of_run = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    keep = np.zeros(len(order), dtype=bool)
    keep[order] = np.arange(len(order)) - start_of_run < k
    return keep


def person_step_rows(persons, order, starts, *, step, secret, partition=0, max_rows_per_person=None):
    """The rows that the sampled ``persons`` bring to ``step``, at most k each.

    Parameters
    ----------
    persons : ndarray of intp
        The persons (codes) sampled at this step, sorted.
    order, starts : ndarray of intp
        ``order[starts[p]:starts[p + 1]]`` are the rows of person ``p``.
    step, secret, partition : int
        Key the priorities' stream (:data:`ROW_PRIORITY`).
    max_rows_per_person : int or None
        k; None keeps every row.

    Returns
    -------
    rows, person : ndarray of intp
        The kept rows, grouped by person, and the person of each.
    priority : ndarray of float64
        Each kept row's priority (NaN without a cap), for a merge across partitions.
    """
    count = starts[persons + 1] - starts[persons]
    person = np.repeat(persons, count)
    within = np.arange(len(person)) - np.repeat(np.cumsum(count) - count, count)
    rows = order[starts[person] + within]
    if max_rows_per_person is None:
        return rows, person, np.full(len(rows), np.nan)
    priority = random_stream(secret, ROW_PRIORITY, partition, step).random(len(rows))
    keep = bottom_k(person, priority, max_rows_per_person)
    return rows[keep], person[keep], priority[keep]


def group_rows(code, n_groups):
    """``(order, starts)``: the rows of each code, ``order[starts[p]:starts[p + 1]]``."""
    order = np.argsort(code, kind="stable").astype(np.intp)
    starts = np.concatenate([[0], np.cumsum(np.bincount(code, minlength=n_groups))]).astype(np.intp)
    return order, starts
