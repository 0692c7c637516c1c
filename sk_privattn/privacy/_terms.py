"""The terms of a guarantee: the neighbouring relation, and the unit that it protects.

An ε means nothing without the pair of data sets it compares. Every DP
estimator states one, with its ``neighbouring`` parameter:

- ``"add_or_remove"`` (the default, as Opacus, TF Privacy and most papers
  report): two data sets are neighbours when one is the other with one unit
  added or removed. Their sizes differ, so the number of units is part of
  what the guarantee protects: nothing released may be a fixed function of it.
- ``"replace_one"``: neighbours have the same size and differ in one unit,
  replaced by another. The number of units is then public by the relation (a
  census whose total is published), and ε is the replace-one ε, about twice
  the add-or-remove ε of the same mechanism.

The unit is what one neighbour adds, removes or replaces: a row, a person
(all of their rows, ``fit(..., person_id=...)``) or a site (a federation at
client level). :class:`Relation` and :class:`Unit` are the one place where
their names are defined; :class:`Neighbouring` holds the pair, and is what
the plan, the accountants, the ledgers, the report and the budgets read.
Every module compares against these members, never against a bare string:
both are :class:`str` enums, so a member equals its name (``Relation("replace_one")
== "replace_one"``) and JSON, pickles and messages hold the plain name.
"""

import enum
from dataclasses import dataclass

__all__ = ["RELATIONS", "UNITS", "Neighbouring", "Relation", "Unit", "record_neighbouring"]

try:  # Python 3.11
    from enum import StrEnum
except ImportError:  # pragma: no cover - Python 3.10

    class StrEnum(str, enum.Enum):
        """A :class:`str` enum whose ``str()`` and ``format()`` are its value, as 3.11's."""

        __str__ = str.__str__
        __format__ = str.__format__


class Relation(StrEnum):
    """The neighbouring relations an ε may be stated for."""

    ADD_OR_REMOVE = "add_or_remove"
    REPLACE_ONE = "replace_one"

    @property
    def count_is_public(self):
        """Whether the relation makes the number of units public (replace-one)."""
        return self is Relation.REPLACE_ONE

    @property
    def dp_accounting(self):
        """The same relation as Google's ``dp_accounting.NeighboringRelation``."""
        from dp_accounting import NeighboringRelation

        if self is Relation.ADD_OR_REMOVE:
            return NeighboringRelation.ADD_OR_REMOVE_ONE
        return NeighboringRelation.REPLACE_ONE


class Unit(StrEnum):
    """What one neighbour adds, removes or replaces."""

    ROW = "row"
    PERSON = "person"
    SITE = "site"


#: The neighbouring relations a DP estimator may state, by name.
RELATIONS = tuple(relation.value for relation in Relation)
#: The units, by name.
UNITS = tuple(unit.value for unit in Unit)


def _member(enum_class, value, parameter):
    try:
        return enum_class(value)
    except ValueError:
        names = tuple(member.value for member in enum_class)
        raise ValueError(f"{parameter}={value!r}; use one of {names}.") from None


@dataclass(frozen=True)
class Neighbouring:
    """The neighbouring relation of a guarantee, and the unit that it protects.

    Attributes
    ----------
    relation : Relation or str
        "add_or_remove" or "replace_one"; stored as a :class:`Relation`.
    unit : Unit or str, default="row"
        What one neighbour adds, removes or replaces: a row; a person, all of
        their rows (``fit(..., person_id=...)``); a whole site (a federation at
        client level). Stored as a :class:`Unit`.

    Examples
    --------
    >>> from sk_privattn.privacy import Neighbouring
    >>> terms = Neighbouring("add_or_remove", "person")
    >>> terms.relation == "add_or_remove", terms.describe()
    (True, 'adding or removing one person')
    """

    relation: Relation
    unit: Unit = Unit.ROW

    def __post_init__(self):
        object.__setattr__(self, "relation", _member(Relation, self.relation, "neighbouring"))
        object.__setattr__(self, "unit", _member(Unit, self.unit, "unit"))

    def __setstate__(self, state):
        # Pickles written before the enums hold the names as plain strings.
        object.__setattr__(self, "relation", Relation(state["relation"]))
        object.__setattr__(self, "unit", Unit(state.get("unit", Unit.ROW)))

    @property
    def count_is_public(self):
        """Whether the relation makes the number of units public (replace-one)."""
        return self.relation.count_is_public

    def describe(self):
        """What two neighbouring data sets differ in, in words."""
        if self.relation is Relation.ADD_OR_REMOVE:
            return f"adding or removing one {self.unit}"
        return f"replacing one {self.unit} by another"

    @property
    def dp_accounting(self):
        """The same relation as Google's ``dp_accounting.NeighboringRelation``."""
        return self.relation.dp_accounting

    def check_same(self, other, what):
        """Raise unless ``other`` (a :class:`Neighbouring`, or a relation name for the
        row) is this relation with this unit.

        ``what`` names the two things being composed, for the message.
        """
        if not isinstance(other, Neighbouring):
            other = Neighbouring(other)
        if other.relation is not self.relation:
            raise ValueError(
                f"{what}: one is accounted under neighbouring={self.relation.value!r} and the other under "
                f"neighbouring={other.relation.value!r}. An ε under one relation does not compose with an ε "
                "under the other: fit every model with the same neighbouring (and, for a "
                "PrivacyBudget, open the budget with that neighbouring)."
            )
        if other.unit is not self.unit:
            raise ValueError(
                f"{what}: one protects a {self.unit} and the other a {other.unit}. An ε per {self.unit} "
                f"does not compose with an ε per {other.unit}: fit every model with person_id, or "
                "every model without it (and, for a PrivacyBudget, open the budget with that unit)."
            )


def record_neighbouring(record):
    """The :class:`Neighbouring` of a ledger record (or of anything with the same keys)."""
    return Neighbouring(record.get("neighbouring", Relation.ADD_OR_REMOVE), record.get("unit", Unit.ROW))
