"""The terms of a guarantee: the neighbouring relation, and the count that a plan reads.

An ε means nothing without the pair of data sets it compares. Every DP
estimator states one, with its ``neighbouring`` parameter:

- ``"add_or_remove"`` (the default, as Opacus, TF Privacy and most papers
  report): two data sets are neighbours when one is the other with one row
  added or removed. Their sizes differ, so the number of rows ``n`` is part
  of what the guarantee protects: nothing released may be a fixed function of
  the exact ``n``.
- ``"replace_one"``: neighbours have the same size and differ in one row,
  replaced by another. ``n`` is then public by the relation (a census whose
  total is published), and ε is the replace-one ε, about twice the
  add-or-remove ε of the same mechanism.

:class:`Neighbouring` holds the relation and the unit that it protects, and
is what the plan, the accountants, the ledger, the report and the budget
read. The count that a plan is made for is a :class:`PublicCount` (given by
the user, or public by the relation) or a :class:`DPCount`, released by
:func:`release_count` with pure ε-DP; the type says which.
"""

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "COUNT_EPSILON_SHARE",
    "DPCount",
    "Neighbouring",
    "PublicCount",
    "RELATIONS",
    "record_neighbouring",
    "release_count",
    "resolve_count",
]

#: The neighbouring relations a DP estimator may state.
RELATIONS = ("add_or_remove", "replace_one")

#: Share of ``epsilon`` that a fit spends on its DP count of the rows, under
#: add-or-remove without a public count (docs/privacy.md, "The number of rows").
COUNT_EPSILON_SHARE = 0.02

#: The smallest DP count released: a smaller draw is raised to it
#: (post-processing), so that a very noisy count of a small table cannot make
#: the default δ large or the plan degenerate.
MIN_DP_COUNT = 100


@dataclass(frozen=True)
class Neighbouring:
    """The neighbouring relation of a guarantee, and the unit that it protects.

    Attributes
    ----------
    relation : {"add_or_remove", "replace_one"}
    unit : {"row", "person", "site"}, default="row"
        What one neighbour adds, removes or replaces: a row; a person, all of
        their rows (``fit(..., person_id=...)``); a whole site (a federation at
        client level).
    """

    relation: str
    unit: str = "row"

    def __post_init__(self):
        if self.relation not in RELATIONS:
            raise ValueError(f"neighbouring={self.relation!r}; use one of {RELATIONS}.")

    @property
    def count_is_public(self):
        """Whether the relation makes the number of units public (replace-one)."""
        return self.relation == "replace_one"

    def describe(self):
        """What two neighbouring data sets differ in, in words."""
        if self.relation == "add_or_remove":
            return f"adding or removing one {self.unit}"
        return f"replacing one {self.unit} by another"

    @property
    def dp_accounting(self):
        """The same relation as Google's ``dp_accounting.NeighboringRelation``."""
        from dp_accounting import NeighboringRelation

        if self.relation == "add_or_remove":
            return NeighboringRelation.ADD_OR_REMOVE_ONE
        return NeighboringRelation.REPLACE_ONE

    def check_same(self, other, what):
        """Raise unless ``other`` (a :class:`Neighbouring`, or a relation name for the
        row) is this relation with this unit.

        ``what`` names the two things being composed, for the message.
        """
        if not isinstance(other, Neighbouring):
            other = Neighbouring(other)
        if other.relation != self.relation:
            raise ValueError(
                f"{what}: one is accounted under neighbouring={self.relation!r} and the other under "
                f"neighbouring={other.relation!r}. An ε under one relation does not compose with an ε "
                "under the other: fit every model with the same neighbouring (and, for a "
                "PrivacyBudget, open the budget with that neighbouring)."
            )
        if other.unit != self.unit:
            raise ValueError(
                f"{what}: one protects a {self.unit} and the other a {other.unit}. An ε per {self.unit} "
                f"does not compose with an ε per {other.unit}: fit every model with person_id, or "
                "every model without it (and, for a PrivacyBudget, open the budget with that unit)."
            )


def record_neighbouring(record):
    """The :class:`Neighbouring` of a ledger record."""
    return Neighbouring(record.get("neighbouring", "add_or_remove"), record.get("unit", "row"))


@dataclass(frozen=True)
class PublicCount:
    """A number of units that is public: nothing is spent on it.

    Attributes
    ----------
    value : int
    source : {"given", "relation", "not private"}
        "given": the user passed it (``public_count``); "relation": the
        exact count, public under replace-one; "not private": the exact
        count of a fit without privacy (ε = inf).
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
    >>> from sk_privattn._relation import release_count
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
