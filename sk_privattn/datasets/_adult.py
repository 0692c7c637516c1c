"""Loader for the UCI Adult (Census Income) dataset shipped with the package.

The raw files live in ``data/`` next to this module, unmodified (see
``data/ATTRIBUTION.md``). Everything the loader returns besides the rows themselves
(feature names, category lists, numeric bounds) comes from public sources, never from
the rows, so that a differentially private model can use it without spending budget.
"""

import csv
import functools
import gzip
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

FEATURE_NAMES = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
)
TARGET_NAME = "income>50K"
TARGET_NAMES = ("<=50K", ">50K")

# Public domain bounds of the numeric features. None of them is computed from the rows.
# "schema" is adult.names, shipped with the data; "CPS" is the coding of the Current
# Population Survey public-use files from which the 1994 extract was taken.
PUBLIC_BOUNDS = {
    # schema: extraction condition AAGE>16; CPS: age is top-coded at 90.
    "age": (17.0, 90.0),
    # Loose: a sampling weight (people represented by one record) has no published
    # maximum; 1.5 million is a round, generous order of magnitude for the CPS weights.
    "fnlwgt": (0.0, 1_500_000.0),
    # schema: the 16 education levels listed for `education`, numbered 1 to 16.
    "education-num": (1.0, 16.0),
    # A non-negative amount; CPS: income items are five-digit fields top-coded at 99999.
    "capital-gain": (0.0, 99_999.0),
    # Loose: a round, generous domain-knowledge value. The US tax code caps the yearly
    # net capital-loss deduction at $3,000, so recorded losses are of that order.
    "capital-loss": (0.0, 5_000.0),
    # schema: extraction condition HRSWK>0; CPS: hours are a two-digit field (max 99).
    "hours-per-week": (1.0, 99.0),
}

_SUBSETS = {
    "train": ("adult.data.gz",),
    "test": ("adult.test.gz",),
    "all": ("adult.data.gz", "adult.test.gz"),
}
_MISSING = "?"

_BOUNDS_DESCR = """\
Public metadata returned with the data
--------------------------------------
``categories`` lists, for each categorical feature, the values published in
adult.names (the schema document). ``bounds`` gives, for each numeric feature, a
(low, high) domain bound chosen from public knowledge, never from the rows:

- age (17, 90): the extraction condition AAGE>16 in adult.names; the CPS top-codes age
  at 90.
- fnlwgt (0, 1500000): loose; a round, generous order of magnitude for a CPS sampling
  weight, which has no published maximum.
- education-num (1, 16): the 16 education levels listed in adult.names.
- capital-gain (0, 99999): non-negative amount; CPS income items are top-coded at 99999.
- capital-loss (0, 5000): loose; a round, generous domain-knowledge value (the US tax
  code caps the yearly net capital-loss deduction at $3,000).
- hours-per-week (1, 99): the extraction condition HRSWK>0 in adult.names; the CPS
  hours field has two digits.

Values outside these bounds are not removed or altered by the loader; models that use
the bounds are expected to clip.

Parsing conventions
-------------------
The space after each comma is stripped, ``?`` (and any value outside the public
category list; the shipped files have none) becomes a missing value, the trailing
period of the labels in adult.test (``>50K.``) is removed and the target is 1 for
``>50K`` and 0 otherwise. The official train/test split is kept.
"""


def _data_path(filename):
    return resources.files(__package__).joinpath("data", filename)


@functools.lru_cache(maxsize=1)
def _read_schema():
    """Parse adult.names into its text and the public category lists."""
    text = _data_path("adult.names").read_text(encoding="utf-8")
    names, categories = [], {}
    for line in text.splitlines():
        name, sep, values = line.partition(":")
        if not sep or line.startswith("|"):
            continue
        names.append(name.strip())
        values = values.strip().rstrip(".")
        if values != "continuous":
            categories[name.strip()] = tuple(v.strip() for v in values.split(","))
    if tuple(names) != FEATURE_NAMES:
        raise RuntimeError(
            f"The shipped adult.names lists the features {names}, expected "
            f"{list(FEATURE_NAMES)}; the package data is damaged, reinstall "
            "sk_privattn."
        )
    return text, categories


def _read_rows(filename):
    """Return the rows of one gzipped data file as lists of strings."""
    with _data_path(filename).open("rb") as raw:
        with gzip.open(raw, "rt", encoding="utf-8") as text:
            return [
                row
                for row in csv.reader(text, skipinitialspace=True)
                if row and not row[0].startswith("|")
            ]


def _load_columns(subset):
    """Read the files of ``subset`` into numeric arrays, category lists and a target."""
    _, categories = _read_schema()
    rows = [row for filename in _SUBSETS[subset] for row in _read_rows(filename)]
    columns = list(zip(*rows))
    features = {}
    for index, name in enumerate(FEATURE_NAMES):
        if name in categories:
            known = set(categories[name])
            features[name] = [v if v in known else None for v in columns[index]]
        else:
            features[name] = np.asarray(columns[index], dtype=np.float64)
    target = np.fromiter(
        (label.rstrip(".") == TARGET_NAMES[1] for label in columns[-1]),
        dtype=np.int64,
        count=len(rows),
    )
    return features, target


def _as_ndarray(features):
    n_samples = len(next(iter(features.values())))
    data = np.empty((n_samples, len(FEATURE_NAMES)), dtype=object)
    for index, name in enumerate(FEATURE_NAMES):
        column = features[name]
        if isinstance(column, np.ndarray):
            data[:, index] = column
        else:
            data[:, index] = [np.nan if value is None else value for value in column]
    return data


def _as_frame(features, target, categories):
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            "load_adult(as_frame=True) needs pandas, which is not installed. Install "
            "it with `pip install pandas` (or `pip install sk_privattn[pandas]`), or "
            "pass as_frame=False to get NumPy arrays."
        ) from exc
    X = pd.DataFrame(
        {
            name: (
                pd.Categorical(features[name], categories=categories[name])
                if name in categories
                else features[name]
            )
            for name in FEATURE_NAMES
        }
    )
    y = pd.Series(target, name=TARGET_NAME)
    return X, y, pd.concat([X, y], axis=1)


def load_adult(*, subset="train", return_X_y=False, as_frame=False):
    """Load the UCI Adult (Census Income) dataset with its official split.

    The data ship with the package (no download). Binary classification: predict
    whether a person's yearly income exceeds $50,000 from 14 census attributes, 6
    numeric and 8 categorical. Besides the rows, the result carries *public* metadata
    (category lists from the schema document and domain bounds for the numeric
    features), so that a differentially private model needs no statistic of the rows.

    ===============   ==========================
    Classes                                    2
    Samples (train)                       32,561
    Samples (test)                        16,281
    Features                  14 (6 num., 8 cat.)
    Positive rate                          ~0.24
    ===============   ==========================

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        Which part of the official split to load: ``"train"`` (adult.data, 32,561
        rows), ``"test"`` (adult.test, 16,281 rows) or ``"all"`` (both, train rows
        first).

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame whose numeric columns are float64 and
        whose categorical columns have a ``category`` dtype with the public category
        lists as categories (so train and test share them), and ``target`` is a
        pandas Series named ``"income>50K"``. Requires pandas.

        If False, ``data`` is a NumPy array of dtype object holding floats in the
        numeric columns and strings in the categorical ones, and ``target`` an int64
        array.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : {ndarray, DataFrame} of shape (n_samples, 14)
            The features. Missing values (``?`` in the files, only in workclass,
            occupation and native-country) are ``np.nan`` in both forms; a value
            outside the public category list would be missing too (the shipped
            files have none).
        target : {ndarray, Series} of shape (n_samples,)
            1 if the income is ``>50K``, else 0.
        frame : DataFrame or None
            ``data`` and ``target`` side by side if ``as_frame=True``, else None.
        feature_names : list of str
            The 14 feature names, as in adult.names.
        target_names : list of str
            ``["<=50K", ">50K"]``, the labels of target 0 and 1.
        classes : list of int
            ``[0, 1]``: the public labels of ``target``, for the ``classes``
            parameter of a classifier.
        categories : dict of str to list of str
            For each categorical feature, its values as published in adult.names.
        bounds : dict of str to tuple of float
            For each numeric feature, public ``(low, high)`` domain bounds, chosen
            without looking at the rows (their sources are listed in ``DESCR``). A
            few rows may lie outside them; clip before use.
        DESCR : str
            Attribution, the sources of the bounds, the parsing conventions and the
            full text of adult.names.

    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as described above.

    Notes
    -----
    Source: Becker, B. & Kohavi, R. (1996). Adult. UCI Machine Learning Repository.
    DOI 10.24432/C5XW20. Licence CC BY 4.0. The shipped files are unmodified copies.

    Examples
    --------
    >>> from sk_privattn.datasets import load_adult
    >>> X, y = load_adult(return_X_y=True)
    >>> X.shape, y.shape
    ((32561, 14), (32561,))
    >>> adult = load_adult(subset="test")
    >>> adult.target_names
    ['<=50K', '>50K']
    >>> adult.bounds["age"]
    (17.0, 90.0)
    """
    if subset not in _SUBSETS:
        raise ValueError(
            f"subset must be one of {sorted(_SUBSETS)}; got {subset!r}. Use 'train' "
            "or 'test' for the official split, or 'all' for both."
        )
    schema_text, categories = _read_schema()
    features, target = _load_columns(subset)
    if as_frame:
        data, target, frame = _as_frame(features, target, categories)
    else:
        data, frame = _as_ndarray(features), None
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=list(FEATURE_NAMES),
        target_names=list(TARGET_NAMES),
        classes=[0, 1],
        categories={name: list(values) for name, values in categories.items()},
        bounds=dict(PUBLIC_BOUNDS),
        DESCR=_describe(schema_text),
    )


def _describe(schema_text):
    attribution = _data_path("ATTRIBUTION.md").read_text(encoding="utf-8")
    return (
        f"{attribution}\n{_BOUNDS_DESCR}\nadult.names\n-----------\n{schema_text}"
    )
