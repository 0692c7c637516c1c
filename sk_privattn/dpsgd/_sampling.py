"""The batch source of DP-SGD: Poisson batches of rows, or of persons.

Every step draws its batch by independent coins of probability ``q`` (the
plan's sample rate), exactly the plan's number of steps per epoch
(:func:`poisson_loader`). At row level that is Opacus' sampler.

At person level (``fit(X, y, person_id=...)``) the unit that ε protects is a
person, not a row. Each step samples *persons* by independent coins of probability ``q``;
each sampled person brings at most ``max_rows_per_person`` of their rows
(drawn afresh at every step when they have more), and their contribution is
the mean of those rows' gradients, clipped to ``max_grad_norm`` as a whole.
The noise, the accountant and the count are then those of row-level DP-SGD
with persons in place of rows.

A batch is laid out as ``n_persons x rows_per_person`` rows, each person's
rows next to each other and padded to the same number with rows of weight
zero, so that the clipping rules, which read each layer's input and output
gradient, take a person's rows as one unit by a reshape
(:class:`~sk_privattn.dpsgd._clipping.BookKeepingClipper`).
"""

from dataclasses import dataclass

import numpy as np
import torch
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from sklearn.utils.validation import column_or_1d
from torch.utils.data import DataLoader

__all__ = [
    "DEFAULT_MAX_ROWS_PER_PERSON",
    "PersonBatch",
    "PersonIndex",
    "PersonSampler",
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
    ids : ndarray
        The distinct person ids, sorted.
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
    """
    person_id = column_or_1d(np.asarray(person_id), warn=False)
    if len(person_id) != n_samples:
        raise ValueError(
            f"person_id has {len(person_id)} entries for {n_samples} rows of X; give the person of every row."
        )
    if person_id.dtype == object:
        missing = np.array([value is None or value != value for value in person_id])
    else:
        missing = np.isnan(person_id) if person_id.dtype.kind == "f" else np.zeros(len(person_id), bool)
    if missing.any():
        raise ValueError(
            f"person_id is missing for row {int(np.argmax(missing))}; every row needs the id of its person "
            "(a row whose person is unknown is a person of its own: give it an id of its own)."
        )
    ids, person_of_row = np.unique(person_id.astype(str) if person_id.dtype == object else person_id,
                                   return_inverse=True)
    order = np.argsort(person_of_row, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(person_of_row, minlength=len(ids)))])
    return PersonIndex(ids, person_of_row.astype(np.intp), order.astype(np.intp), starts.astype(np.intp))


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


class PersonSampler:
    """Exactly ``steps`` Poisson batches of persons at ``sample_rate``, as :class:`PersonBatch`.

    Each person joins each batch by an independent coin; one who has more
    than ``max_rows_per_person`` rows brings that many, drawn without
    replacement, afresh at every step.
    """

    def __init__(self, persons, *, sample_rate, steps, max_rows_per_person, generator):
        self.persons = persons
        self.sample_rate = float(sample_rate)
        self.steps = int(steps)
        self.max_rows_per_person = int(max_rows_per_person)
        self.generator = generator

    def __len__(self):
        return self.steps

    def __iter__(self):
        counts = torch.as_tensor(self.persons.rows_per_person, dtype=torch.long)
        starts = torch.as_tensor(self.persons.starts[:-1], dtype=torch.long)
        order = torch.as_tensor(self.persons.order, dtype=torch.long)
        for _ in range(self.steps):
            coins = torch.rand(self.persons.n_persons, generator=self.generator) < self.sample_rate
            yield self._batch(torch.nonzero(coins).flatten(), counts, starts, order)

    def _batch(self, sampled, counts, starts, order):
        if len(sampled) == 0:
            return PersonBatch(torch.zeros(0, dtype=torch.long), torch.zeros(0), 1)
        count = counts[sampled]
        width = int(min(self.max_rows_per_person, int(count.max())))
        # Every row of every sampled person, person by person.
        person = torch.repeat_interleave(torch.arange(len(sampled)), count)
        first = torch.cumsum(count, 0) - count
        within = torch.arange(len(person)) - first[person]
        rows = order[starts[sampled][person] + within]
        if int(count.max()) > width:
            # Keep a random `width` of the rows of each person who has more.
            keys = torch.rand(len(person), generator=self.generator)
            shuffled = torch.argsort(person.double() * 2 + keys, stable=True)
            person, rows = person[shuffled], rows[shuffled]
            within = torch.arange(len(person)) - first[person]
            kept = within < width
            person, rows, within = person[kept], rows[kept], within[kept]
        brought = count.clamp(max=width)
        # Each person's block of `width` slots: their rows, then copies of their first row (weight 0).
        grid = torch.repeat_interleave(rows[torch.cumsum(brought, 0) - brought], width)
        slot = person * width + within
        grid[slot] = rows
        weight = torch.zeros(len(sampled) * width)
        weight[slot] = 1.0 / brought[person].float()
        return PersonBatch(grid, weight, width)


def _batch_as_is(batch):
    return batch


def poisson_loader(dataset, plan, generator, persons=None, max_rows_per_person=None):
    """Exactly ``plan.steps_per_epoch`` Poisson batches per epoch at ``plan.sample_rate``:
    of rows, or of ``persons`` (a :class:`PersonIndex`).

    Opacus' own ``DPDataLoader`` runs ``int(1 / sample_rate)`` steps, which
    is one fewer than planned for many step counts (93, 99, 105, ...); its
    sampler is given the plan's number of steps here instead.
    """
    if persons is not None:
        sampler = PersonSampler(persons, sample_rate=plan.sample_rate, steps=plan.steps_per_epoch,
                                max_rows_per_person=max_rows_per_person, generator=generator)
    else:
        sampler = UniformWithReplacementSampler(
            num_samples=len(dataset),
            sample_rate=plan.sample_rate,
            generator=generator,
            steps=plan.steps_per_epoch,
        )
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=_batch_as_is)


