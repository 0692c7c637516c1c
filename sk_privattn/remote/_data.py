"""How a dataset of a remote job is laid out: a CSV table, and its public metadata.

Each part of a dataset (the mock part that scientists download, and the
private part that stays with its owner) is a folder that holds:

- ``data.csv``: one row per record, a header of column names, the target
  in the column that the metadata names. Categorical values are text; an
  empty field is a missing value.
- ``sk_privattn.json``: the *public* metadata, written by the owner and the
  same in both parts: the target column and the task, the features in order,
  the category list of each categorical feature, bounds for each numeric
  one, the labels (a classification) or the target's bounds (a regression),
  and the owner's terms (δ and the neighbouring relation of every ε spent on
  the dataset). Nothing in it may be computed from the private rows: it is
  what lets a DP fit read nothing else of them.

Under add-or-remove the number of private rows is private too; the metadata
may publish a ``public_count`` (a number the owner chooses to publish, e.g.
rounded), which every plan then reads instead of a DP count.
"""

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..privacy import RELATIONS, Relation

__all__ = [
    "DATA_FILE",
    "METADATA_FILE",
    "PublicMetadata",
    "as_Xy",
    "check_labels",
    "mock_rows",
    "read_part",
    "synthetic_mock",
    "with_a_row_if_empty",
    "write_part",
]

DATA_FILE = "data.csv"
METADATA_FILE = "sk_privattn.json"
_FORMAT = "sk_privattn-dataset"
_VERSION = 1
TASKS = ("classification", "regression")


@dataclass(frozen=True)
class PublicMetadata:
    """The public metadata of a dataset: what a DP fit may know without reading the rows.

    Attributes
    ----------
    target : str
        The target's column in ``data.csv``.
    task : {"classification", "regression"}
    features : list of str
        The feature columns, in order.
    categories : dict of str to list of str
        The public category list of each categorical feature; every other
        feature is numeric.
    bounds : dict of str to (float, float)
        Public ``(low, high)`` bounds of every numeric feature.
    classes : list or None
        The public labels of a classification.
    target_bounds : (float, float) or None
        Public bounds of a regression's target.
    public_count : int or None
        A number of rows that the owner publishes; ``None`` keeps the count
        private (each fit then releases a DP count of it).
    delta : float
        The owner's δ: every ε spent on the dataset is at this δ.
    neighbouring : {"add_or_remove", "replace_one"}
        The owner's neighbouring relation.
    """

    target: str
    task: str
    features: list
    categories: dict = field(default_factory=dict)
    bounds: dict = field(default_factory=dict)
    classes: list = None
    target_bounds: tuple = None
    public_count: int = None
    delta: float = 1e-5
    neighbouring: str = Relation.ADD_OR_REMOVE.value

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task={self.task!r}; use one of {TASKS}.")
        if self.neighbouring not in RELATIONS:
            raise ValueError(f"neighbouring={self.neighbouring!r}; use one of {RELATIONS}.")
        if not (isinstance(self.delta, float) and 0 < self.delta < 1):
            raise ValueError(f"delta={self.delta!r} must be a float in (0, 1), e.g. 1e-5.")
        if self.target in self.features:
            raise ValueError(f"The target {self.target!r} is also listed among the features; list it once, as target.")
        unknown = sorted(set(self.categories) - set(self.features))
        not_text = [name for name, values in self.categories.items() if not all(isinstance(v, str) for v in values)]
        if not_text:
            raise ValueError(f"The categories of {not_text} must be lists of str: data.csv holds categorical "
                             "values as text.")
        if unknown:
            raise ValueError(f"categories names {unknown}, which are not features of the dataset.")
        missing = [name for name in self.features if name not in self.categories and name not in self.bounds]
        if missing:
            raise ValueError(
                f"The numeric features {missing} have no public bounds. Give bounds (low, high) from public "
                "knowledge of each (a schema, a code book), never from the rows, or list their categories."
            )
        if self.task == "classification" and not self.classes:
            raise ValueError("A classification dataset needs its public classes (e.g. classes=[0, 1]).")
        if self.task == "regression" and self.target_bounds is None:
            raise ValueError("A regression dataset needs public target_bounds=(low, high) for its target.")
        if self.public_count is not None and not (isinstance(self.public_count, int) and self.public_count >= 1):
            raise ValueError(f"public_count={self.public_count!r} must be an int >= 1, or None.")

    @property
    def numeric(self):
        """The numeric features, in order."""
        return [name for name in self.features if name not in self.categories]

    def to_json(self):
        """The metadata as the JSON text of ``sk_privattn.json``."""
        document = {"format": _FORMAT, "version": _VERSION, **asdict(self)}
        return json.dumps(document, indent=2)

    @classmethod
    def from_json(cls, text):
        """The metadata of a ``sk_privattn.json`` text."""
        document = json.loads(text)
        if document.pop("format", None) != _FORMAT or document.pop("version", None) != _VERSION:
            raise ValueError(f"This is not the metadata of an sk_privattn dataset (format {_FORMAT!r}, "
                             f"version {_VERSION}).")
        document["bounds"] = {name: tuple(bounds) for name, bounds in document["bounds"].items()}
        if document.get("target_bounds") is not None:
            document["target_bounds"] = tuple(document["target_bounds"])
        return cls(**document)

    def estimator_defaults(self):
        """The public parameters that a fit on this dataset takes from the metadata."""
        defaults = {"bounds": dict(self.bounds),
                    "categories": {name: list(values) for name, values in self.categories.items()}}
        if self.task == "classification":
            defaults["classes"] = list(self.classes)
        else:
            defaults["target_bounds"] = tuple(self.target_bounds)
        if self.public_count is not None:
            defaults["public_count"] = self.public_count
        return defaults


def write_part(folder, frame, metadata):
    """Write one part of a dataset (``frame``, a DataFrame with the target column) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    columns = [*metadata.features, metadata.target]
    absent = [name for name in columns if name not in frame.columns]
    if absent:
        raise ValueError(f"The table has no column {absent}; its columns are {list(frame.columns)}.")
    frame[columns].to_csv(folder / DATA_FILE, index=False)
    (folder / METADATA_FILE).write_text(metadata.to_json())
    return folder


def read_metadata(folder):
    """The :class:`PublicMetadata` of the dataset part in ``folder``."""
    return PublicMetadata.from_json((Path(folder) / METADATA_FILE).read_text())


def read_part(folder, metadata=None):
    """``(X, y)`` of the dataset part in ``folder``, as the metadata describes them (:func:`as_Xy`)."""
    import pandas as pd

    folder = Path(folder)
    metadata = read_metadata(folder) if metadata is None else metadata
    table = pd.read_csv(folder / DATA_FILE, dtype=str, keep_default_na=False, na_values=[""])
    return as_Xy(table, metadata)


def as_Xy(table, metadata):
    """``(X, y)`` of a table (a DataFrame with the columns of the metadata), total on any values.

    ``X`` is a DataFrame: numeric features as float64, where a value that is
    not a number is missing (NaN) and an infinite one stays infinite (the
    encoding clips it to the bounds); categorical ones with a ``category``
    dtype whose categories are the public lists, where a value outside the
    list is missing (the encoding's "unknown or missing" token). ``y`` holds
    the public classes (an object array, ``None`` where a label is missing or
    not among them: such a row weighs 0 in the fit), or floats (a regression,
    NaN where the target is missing or not a number). Nothing here raises or
    warns on a value: whether one row holds such a value must not show
    (docs/remote.md, "Total on every table").
    """
    import pandas as pd

    X = pd.DataFrame({name: _feature(table[name], metadata.categories.get(name)) for name in metadata.features})
    target = table[metadata.target]
    if metadata.task == "regression":
        return X, pd.to_numeric(target, errors="coerce").to_numpy(dtype=np.float64)
    labels = {str(label): label for label in metadata.classes}
    y = np.empty(len(target), dtype=object)
    y[:] = [None if pd.isna(value) else labels.get(str(value)) for value in target]
    return X, y


def _feature(values, categories):
    """One column of ``X`` (see :func:`as_Xy`): categorical when ``categories`` is a list."""
    import pandas as pd

    if categories is None:
        return pd.to_numeric(values, errors="coerce").astype(np.float64)
    text = values.where(values.isna(), values.astype(str))
    return pd.Categorical(text.where(text.isin(categories)), categories=list(categories))


def mock_rows(metadata, n_rows=64):
    """``(X, y)`` of :func:`synthetic_mock` rows: drawn from the public metadata alone."""
    return as_Xy(synthetic_mock(metadata, n_rows), metadata)


def with_a_row_if_empty(X, y):
    """``(X, y)``, or, for a table without rows, one row whose every value is missing.

    Its target is missing, so it weighs 0: DP-SGD adds its noise as it would
    on no row at all, and the fit runs instead of raising on an empty table.
    The DP count then counts one row where there are none: the count of an
    empty table and of a table of one row are the same release.
    """
    if len(y):
        return X, y
    return X.reindex(range(1)), np.full(1, None if y.dtype == object else np.nan, dtype=y.dtype)


def check_labels(frame, metadata):
    """Raise, for the owner publishing ``frame``, if a label is missing or outside the public classes.

    The owner's own check at publication: a fit is total on such rows (they
    weigh 0), but the owner should list every label of the task. The message
    names no label (they would be data-derived).
    """
    if metadata.task != "classification":
        return
    _, y = as_Xy(frame[[*metadata.features, metadata.target]].astype(object), metadata)
    if any(label is None for label in y):
        raise ValueError(
            f"The target column {metadata.target!r} holds labels that are not among the public classes "
            f"{metadata.classes} (or missing ones); list every label in the metadata's classes."
        )


def synthetic_mock(metadata, n_rows=200, random_state=0):
    """A mock table drawn from the public metadata alone: no private row enters it.

    Each numeric feature is uniform within its bounds (log-uniform where the
    bounds span several orders of magnitude from 0 or more), each
    categorical one uniform over its categories, and the target uniform over
    the classes (or within the target's bounds): the same schema as the
    private part, and none of its values or relations.

    Parameters
    ----------
    metadata : PublicMetadata
    n_rows : int, default=200
    random_state : int, default=0

    Returns
    -------
    frame : DataFrame
        The features and the target, as ``data.csv`` holds them.
    """
    import pandas as pd

    rng = np.random.default_rng(random_state)
    columns = {}
    for name in metadata.features:
        if name in metadata.categories:
            columns[name] = rng.choice(np.asarray(metadata.categories[name], dtype=object), size=n_rows)
            continue
        low, high = (float(value) for value in metadata.bounds[name])
        if low >= 0 and high > 100 * max(low, 1.0):
            values = np.expm1(rng.uniform(math.log1p(low), math.log1p(high), size=n_rows))
        else:
            values = rng.uniform(low, high, size=n_rows)
        columns[name] = np.round(values, 3)
    if metadata.task == "classification":
        columns[metadata.target] = rng.choice(np.asarray(metadata.classes, dtype=object), size=n_rows)
    else:
        columns[metadata.target] = rng.uniform(*metadata.target_bounds, size=n_rows)
    return pd.DataFrame(columns)
