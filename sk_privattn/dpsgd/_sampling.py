"""The batch sources of DP-SGD: Poisson batches of rows, or of persons, at O(batch) per step.

Every step draws its batch by independent coins of probability ``q`` (the
plan's sample rate), for exactly the plan's steps. The draws are those of
:mod:`._poisson`: a Binomial(n, q) size then a uniform subset of that size,
which is the same distribution as one coin per unit, at O(B) cost per step
rather than Opacus' O(n); and every draw is keyed by the fit's secret, the
step and the partition, ``SeedSequence(secret, spawn_key=(purpose, partition,
step))``.

A batch source is what the training loop iterates, through a
:class:`~torch.utils.data.DataLoader` (:func:`poisson_loader`): skorch
iterates it once per epoch, ``steps_per_epoch`` batches each time, and the
step index continues across epochs, so that the plan's steps are drawn once
each. There are three:

- :class:`RowBatches`: the rows of a dataset held in memory;
- :class:`PersonBatches`: persons of a dataset held in memory;
- :class:`GatheredBatches`: rows that one pass over partitioned data drew
  already, tagged with their step (:mod:`sk_privattn.data`): the dataset is
  those rows, in step order.

At person level (``fit(X, y, person_id=...)``) the unit that ε protects is a
person, not a row. Each step samples *persons* by independent coins of
probability ``q``; a person's set of steps is a keyed function of the secret
and their canonical id (:func:`._poisson.person_steps`), so that it agrees on
every partition that holds their rows. Each sampled person brings at most
``max_rows_per_person`` of their rows (a uniform subset by bottom-k
priorities, drawn afresh at every step), and their contribution is the mean of
those rows' gradients, clipped to ``max_grad_norm`` as a whole. The noise, the
accountant and the count are then those of row-level DP-SGD with persons in
place of rows.

A person batch is laid out as ``n_persons x rows_per_person`` rows, each
person's rows next to each other and padded to the same number with rows of
weight zero, so that the clipping rules, which read each layer's input and
output gradient, take a person's rows as one unit by a reshape
(:class:`~sk_privattn.dpsgd._clipping.BookKeepingClipper`).
"""

import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from ._poisson import (
    ROWS,
    check_plan,
    check_secret,
    group_rows,
    person_codes,
    person_step_rows,
    person_steps,
    poisson_rows,
    random_stream,
)

__all__ = [
    "DEFAULT_MAX_ROWS_PER_PERSON",
    "BatchSource",
    "GatheredBatches",
    "PersonBatch",
    "PersonBatches",
    "PersonIndex",
    "PersonSample",
    "RowBatches",
    "batch_source",
    "person_index",
    "poisson_loader",
]

#: The default bound on the rows that one person contributes to one step.
DEFAULT_MAX_ROWS_PER_PERSON = 8


@dataclass(frozen=True)
class PersonIndex:
    """The rows of each person.

    Attributes
    ----------
    ids : ndarray of str
        The distinct canonical person ids, sorted (:func:`._poisson.canonical_id`:
        ``3``, ``3.0`` and ``"3"`` are one person).
    person_of_row : ndarray of int
        The position in ``ids`` of each row's person.
    order : ndarray of int
        The rows, grouped by person (``ids`` order).
    starts : ndarray of int
        ``order[starts[p]:starts[p + 1]]`` are the rows of person ``p``.
    """

    ids: np.ndarray
    person_of_row: np.ndarray
    order: np.ndarray
    starts: np.ndarray

    @property
    def n_persons(self):
        return len(self.ids)

    @property
    def rows_per_person(self):
        return np.diff(self.starts)

    def rows_of(self, person):
        return self.order[self.starts[person] : self.starts[person + 1]]


def person_index(person_id, n_samples):
    """The :class:`PersonIndex` of ``person_id``, one id per row of ``X``.

    Raises
    ------
    ValueError
        When ``person_id`` has the wrong length or holds a missing value.

    Examples
    --------
    >>> from sk_privattn.dpsgd import person_index
    >>> persons = person_index([3, "3", 3.0, "b"], 4)
    >>> persons.ids.tolist(), persons.person_of_row.tolist()
    (['3', 'b'], [0, 0, 0, 1])
    """
    person_id = np.asarray(person_id, dtype=object if isinstance(person_id, (list, tuple)) else None)
    if person_id.ndim == 2 and person_id.shape[1] == 1:
        person_id = person_id.ravel()
    if len(person_id) != n_samples:
        raise ValueError(
            f"person_id has {len(person_id)} entries for {n_samples} rows of X; give the person of every row."
        )
    missing = _missing(person_id)
    if missing.any():
        raise ValueError(
            f"person_id is missing for row {int(np.argmax(missing))}; every row needs the id of its person "
            "(a row whose person is unknown is a person of its own: give it an id of its own)."
        )
    ids, person_of_row = person_codes(person_id)
    order, starts = group_rows(person_of_row, len(ids))
    return PersonIndex(ids, person_of_row, order, starts)


def _missing(person_id):
    if person_id.dtype == object:
        return np.array([value is None or value != value for value in person_id], dtype=bool)
    if person_id.dtype.kind == "f":
        return np.isnan(person_id)
    return np.zeros(len(person_id), dtype=bool)


@dataclass
class PersonBatch:
    """One step's rows, ``len(rows) == n_persons * rows_per_person``, persons in blocks.

    ``weight[i]`` is 1/k for each of the k rows that a person brings and 0 for
    padding, so that a person's block of the batch's loss is the mean of
    their rows' losses.
    """

    rows: torch.Tensor
    weight: torch.Tensor
    rows_per_person: int

    def __len__(self):
        return len(self.rows)


def person_batch(rows, person):
    """The :class:`PersonBatch` of ``rows`` (dataset positions), grouped by ``person``.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn.dpsgd._sampling import person_batch
    >>> batch = person_batch(np.array([5, 6, 9]), np.array([0, 0, 4]))
    >>> batch.rows.tolist(), batch.weight.tolist(), batch.rows_per_person
    ([5, 6, 9, 9], [0.5, 0.5, 1.0, 0.0], 2)
    """
    if len(rows) == 0:
        return PersonBatch(torch.zeros(0, dtype=torch.long), torch.zeros(0), 1)
    first = np.r_[True, person[1:] != person[:-1]]
    starts = np.flatnonzero(first)
    brought = np.diff(np.r_[starts, len(rows)])
    width = int(brought.max())
    block = np.cumsum(first) - 1
    within = np.arange(len(rows)) - starts[block]
    # Each person's block of `width` slots: their rows, then copies of their first row (weight 0).
    grid = np.repeat(rows[starts], width)
    slot = block * width + within
    grid[slot] = rows
    weight = np.zeros(len(starts) * width, dtype=np.float32)
    weight[slot] = 1.0 / brought[block]
    return PersonBatch(torch.as_tensor(grid, dtype=torch.long), torch.as_tensor(weight), width)


class BatchSource(ABC):
    """Exactly ``steps`` batches, ``steps_per_epoch`` per iteration.

    Iterable like a ``torch.utils.data.Sampler`` of batches: each iteration
    (an epoch) yields the next ``steps_per_epoch`` steps' batches, continuing
    the step index of the previous one, and the source refuses to run past its
    last step.

    Parameters
    ----------
    steps : int
        The plan's steps, all epochs together.
    steps_per_epoch : int, default=None
        Batches per iteration; ``None`` for all ``steps`` in one.
    """

    def __init__(self, *, steps, steps_per_epoch=None):
        self.steps = int(steps)
        self.steps_per_epoch = self.steps if steps_per_epoch is None else int(steps_per_epoch)
        self.next_step = 0

    def __len__(self):
        return self.steps_per_epoch

    def __iter__(self):
        first = self.next_step
        if first + self.steps_per_epoch > self.steps:
            raise RuntimeError(
                f"The batch source was asked for steps {first} to {first + self.steps_per_epoch - 1}, past the "
                f"plan's {self.steps} steps; the accounting covers the planned steps only. This is a bug in "
                "sk_privattn."
            )
        for step in range(first, first + self.steps_per_epoch):
            self.next_step = step + 1
            yield self.batch(step)

    @abstractmethod
    def batch(self, step):
        """The batch of ``step``: dataset positions (an int64 tensor), or a :class:`PersonBatch`."""


class RowBatches(BatchSource):
    """Poisson batches of the ``n_rows`` rows of a dataset in memory, O(batch) per step.

    Parameters
    ----------
    n_rows : int
        The exact number of rows, used inside the mechanism only.
    steps : int
    sample_rate : float
        The plan's q (from a public or DP count, not from ``n_rows``).
    secret : int
        Keys every draw (:func:`._poisson.random_stream`).
    partition : int, default=0
        Which partition these rows are, when the data has several.
    steps_per_epoch : int, default=None

    Examples
    --------
    >>> from sk_privattn.dpsgd import RowBatches
    >>> batches = RowBatches(10_000, steps=6, sample_rate=0.01, secret=3, steps_per_epoch=3)
    >>> first, second = list(batches), list(batches)
    >>> [80 < len(rows) < 120 for rows in first], batches.next_step
    ([True, True, True], 6)
    >>> bool((batches.batch(3) == second[0]).all())
    True
    """

    def __init__(self, n_rows, *, steps, sample_rate, secret, partition=0, steps_per_epoch=None):
        if isinstance(n_rows, (bool, np.bool_)) or not isinstance(n_rows, numbers.Integral) or n_rows < 0:
            raise ValueError(f"n_rows must be a non-negative int; got {n_rows!r}.")
        steps, self.sample_rate = check_plan(steps, sample_rate)
        super().__init__(steps=steps, steps_per_epoch=steps_per_epoch)
        self.n_rows = int(n_rows)
        self.secret = check_secret(secret)
        self.partition = int(partition)

    def sample(self, step):
        """The sorted row positions of ``step``'s batch, as an ndarray."""
        rng = random_stream(self.secret, ROWS, self.partition, step)
        return poisson_rows(self.n_rows, self.sample_rate, rng)

    def batch(self, step):
        return torch.from_numpy(self.sample(step))


@dataclass(frozen=True)
class PersonSample:
    """One step's rows at person level, grouped by person.

    Attributes
    ----------
    rows : ndarray of intp
    person : ndarray of intp
        The position in the source's ``ids`` of each row's person.
    """

    rows: np.ndarray
    person: np.ndarray


class PersonBatches(BatchSource):
    """Poisson batches of the persons of a dataset in memory, each bringing at most k rows.

    Setting up costs O(persons) (a keyed hash per person,
    :func:`._poisson.person_steps`); a step then costs O(rows of its sampled
    persons).

    Parameters
    ----------
    persons : PersonIndex
    steps : int
    sample_rate : float
        The plan's q, over persons.
    secret : int
    max_rows_per_person : int or None, default=None
        The most rows a person brings to a step (a uniform subset of theirs,
        drawn afresh at each step); None brings all.
    steps_per_epoch : int, default=None

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn.dpsgd import PersonBatches, person_index
    >>> persons = person_index(np.repeat(np.arange(1000), 3), 3000)
    >>> batches = PersonBatches(persons, steps=4, sample_rate=0.05, secret=0, max_rows_per_person=2)
    >>> sample = batches.sample(1)
    >>> bool((np.bincount(sample.person) <= 2).all()), batches.batch(1).rows_per_person
    (True, 2)
    """

    def __init__(self, persons, *, steps, sample_rate, secret, max_rows_per_person=None, steps_per_epoch=None):
        steps, self.sample_rate = check_plan(steps, sample_rate)
        super().__init__(steps=steps, steps_per_epoch=steps_per_epoch)
        if max_rows_per_person is not None and (
            not isinstance(max_rows_per_person, numbers.Integral) or max_rows_per_person < 1
        ):
            raise ValueError(f"max_rows_per_person must be None or an int >= 1; got {max_rows_per_person!r}.")
        self.persons = persons
        self.secret = check_secret(secret)
        self.max_rows_per_person = max_rows_per_person
        person, step = person_steps(persons.ids, steps=steps, sample_rate=self.sample_rate, secret=self.secret)
        by_step = np.lexsort((person, step))
        self._persons_by_step = person[by_step]
        self._step_starts = np.searchsorted(step[by_step], np.arange(steps + 1))

    @property
    def ids(self):
        """The canonical ids of the persons, which :attr:`PersonSample.person` indexes."""
        return self.persons.ids

    def sample(self, step):
        """The :class:`PersonSample` of ``step``."""
        sampled = self._persons_by_step[self._step_starts[step] : self._step_starts[step + 1]]
        rows, person, _ = person_step_rows(
            sampled, self.persons.order, self.persons.starts, step=step, secret=self.secret,
            max_rows_per_person=self.max_rows_per_person,
        )
        return PersonSample(rows, person)

    def batch(self, step):
        sample = self.sample(step)
        return person_batch(sample.rows, sample.person)


class GatheredBatches(BatchSource):
    """The batches of rows that a pass over partitioned data drew, one slice per step.

    The dataset holds the gathered rows in step order; ``step_of_row`` is
    each row's step (non-decreasing). At person level ``person_of_row`` groups
    a step's rows by person, whose cap was applied where the rows were drawn.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn.dpsgd import GatheredBatches
    >>> batches = GatheredBatches(np.array([0, 0, 2, 2, 2]), steps=3)
    >>> [batch.tolist() for batch in batches]
    [[0, 1], [], [2, 3, 4]]
    """

    def __init__(self, step_of_row, *, steps, person_of_row=None, steps_per_epoch=None):
        super().__init__(steps=steps, steps_per_epoch=steps_per_epoch)
        step_of_row = np.asarray(step_of_row, dtype=np.int64)
        if np.any(np.diff(step_of_row) < 0) or (len(step_of_row) and not 0 <= step_of_row[-1] < self.steps):
            raise ValueError("step_of_row must be non-decreasing steps in [0, steps): the rows in step order.")
        self._bounds = np.searchsorted(step_of_row, np.arange(self.steps + 1))
        self.person_of_row = None if person_of_row is None else np.asarray(person_of_row)

    def batch(self, step):
        rows = np.arange(self._bounds[step], self._bounds[step + 1], dtype=np.int64)
        if self.person_of_row is None:
            return torch.from_numpy(rows)
        return person_batch(rows, self.person_of_row[rows])


def batch_source(plan, *, secret, n_rows, persons=None, max_rows_per_person=None):
    """The in-memory batch source of ``plan``: :class:`RowBatches` of ``n_rows`` rows, or
    :class:`PersonBatches` of ``persons``."""
    steps = dict(steps=plan.n_steps, sample_rate=plan.sample_rate, secret=secret,
                 steps_per_epoch=plan.steps_per_epoch)
    if persons is None:
        return RowBatches(n_rows, **steps)
    return PersonBatches(persons, max_rows_per_person=max_rows_per_person, **steps)


def _batch_as_is(batch):
    return batch


def poisson_loader(dataset, batches):
    """A ``DataLoader`` of ``dataset`` whose batches are those of ``batches`` (a :class:`BatchSource`)."""
    return DataLoader(dataset, batch_sampler=batches, collate_fn=_batch_as_is)
