"""One harness for every channel that an observer sees: run an entry point on two neighbouring
inputs, with the same seeds and every DP release other than the weights pinned to one value, and
compare everything it emits.

An output reaches someone through more than the fitted estimator: what is printed (stdout and
stderr, at the file-descriptor level too, where tqdm and C code write), the warnings, the
exceptions, the ``logging`` records, the files written (ledgers, budgets, a remote job's result),
the pickle and the package's own persistence. :func:`observe` captures all of them for one run;
:func:`channel_differences` compares two runs, channel by channel, and names every difference
that is not the trained weights (or another release on :data:`ALLOWED`, with its reason).

The neighbours (:func:`without_row`, :func:`with_row_replaced`, :func:`without_person`,
:func:`with_row`) are those of the three relations: add-or-remove (one row more or less),
replace-one (one row replaced) and person (all rows of one person removed).

:func:`pin_dp_releases` pins every DP release other than the weights (today the DP count of
the rows, and the DP metadata: numeric ranges, categories and classes) to one value on both
sides, through pytest's ``monkeypatch``: :data:`DP_RELEASES` is the one list of them, and a new
release joins it there.

The clock that tqdm reads is frozen inside :func:`observe`: how long a fit takes is a channel of
its own (docs/reporting.md, docs/remote.md), not one that a byte comparison of two runs can test.
"""

import contextlib
import copy
import importlib
import io
import json
import logging
import os
import pickle
import re
import shutil
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from test_neighbouring import differences

__all__ = [
    "ALLOWED",
    "DP_RELEASES",
    "Observation",
    "channel_differences",
    "observe",
    "observe_neighbours",
    "pin_dp_releases",
    "with_row",
    "with_row_replaced",
    "without_person",
    "without_row",
]

#: The value that the pinned DP count of the rows (or persons) releases on both sides.
PINNED_COUNT = 100


def _pinned_count(n, epsilon, seed):
    from sk_privattn.privacy._count import DPCount

    return DPCount(PINNED_COUNT, float(epsilon))


def _pinned_ranges(X, *, noise, seed, public_bounds=None, groups=None, quantile=None, **kwargs):
    """The DP ranges of the columns of ``X``: (0, 100) each, whatever their values."""
    from sk_privattn.privacy._metadata import NumericRanges

    n = np.shape(X)[1]
    fixed = np.zeros(n), np.full(n, 100.0)
    return NumericRanges(lower=fixed[0], upper=fixed[1], coarse_lower=fixed[0], coarse_upper=fixed[1],
                         coarse_counts=np.zeros((n, 1)), missing_counts=np.zeros(n), refined_edges=(),
                         refined_counts=(), noise_std=noise.noise_std, coarse_threshold=0.0,
                         refined_thresholds=np.zeros(n))


def _pinned_partitions(keys):
    def release(X, *, noise, seed, delta, relation, groups=None, **kwargs):
        """The DP categories (or classes) of each column: ``keys``, whatever the values."""
        from sk_privattn.privacy._metadata import ReleasedCategories

        n = np.shape(X)[1] if np.ndim(X) == 2 else 1
        return ReleasedCategories(tuple(keys for _ in range(n)), tuple(np.zeros(len(keys)) for _ in range(n)),
                                  0.0, noise.noise_std, 0.0)

    return release


def _pinned_ranges_of(columns, *, noise, seed, public_bounds=None, **kwargs):
    """The DP ranges of partitioned columns (a Dask X): (0, 100) each, whatever their values."""
    return _pinned_ranges(np.zeros((0, columns.n_features)), noise=noise, seed=seed)


def _pinned_partitions_of(categories, classes):
    def release(columns, *, noise, seed, delta, relation, max_categories=None, purpose=None):
        """The DP categories (or classes) of partitioned columns: fixed keys, whatever the values."""
        from sk_privattn.privacy._metadata._noise import _CLASSES

        keys = classes if purpose == _CLASSES else categories
        return _pinned_partitions(keys)(np.zeros((0, columns.n_features)), noise=noise, seed=seed, delta=delta,
                                        relation=relation)

    return release


#: Every DP release other than the trained weights, by name: ``(module, attribute, stand-in)``,
#: the stand-in releasing one fixed value whatever the data. A new release joins here.
DP_RELEASES = {
    "count of the rows": ("sk_privattn.privacy._count", "release_count", _pinned_count),
    "numeric ranges (metadata)": ("sk_privattn.privacy._metadata._release", "release_numeric_ranges",
                                  _pinned_ranges),
    "categories (metadata)": ("sk_privattn.privacy._metadata._release", "release_categories",
                              _pinned_partitions(("blue", "green", "red", "L", "M", "S"))),
    "classes (metadata)": ("sk_privattn.privacy._metadata._release", "release_classes", _pinned_partitions((0, 1))),
    "numeric ranges of partitions (metadata, Dask)": ("sk_privattn.privacy._metadata._release", "release_ranges_of",
                                                      _pinned_ranges_of),
    "categories and classes of partitions (metadata, Dask)": (
        "sk_privattn.privacy._metadata._release", "release_categories_of",
        _pinned_partitions_of(("blue", "green", "red", "L", "M", "S"), (0, 1)),
    ),
}


def pin_dp_releases(monkeypatch, releases=None):
    """Pin every release of :data:`DP_RELEASES` (or of ``releases``) with ``monkeypatch``."""
    for module, attribute, stand_in in (releases or DP_RELEASES).values():
        monkeypatch.setattr(importlib.import_module(module), attribute, stand_in)


#: Files that an entry point may write and that are not compared, each with its reason.
ALLOWED = {
    r"(^|/)key$": "a ledger's secret key: random by design, and never released",
    r"(^|/)fit-[^/]*\.npy$": (
        "a ledger's keyed fingerprints of the training rows, one per row: the data owner's record of "
        "which rows trained, never released (sk_privattn/privacy/ledger.py says so)"
    ),
    r"\.lock$|(^|/)lock$|(^|/)OPEN$": "an empty lock or marker file",
}

#: Paths of the returned object's state that may differ beyond ``test_neighbouring.ALLOWED``,
#: each with its reason.
ALLOWED_STATE = {
    r"\._privacy_record_id$": "the id of the fit's record in the open ledger: random (uuid4) by design",
}

#: Attributes that hold a DP release other than the weights (``test_neighbouring.ALLOWED`` says
#: why each may differ), set to one value in the copies whose pickles are compared.
RELEASED_ATTRIBUTES = ("best_score_",)

#: Keys of JSON files (ledger records, budgets) that are random by design: ids, process ids, times.
_RANDOM_BY_DESIGN = ("id", "pid", "started", "time")
_HEX_ID = re.compile(r"[0-9a-f]{32}")


# -- the neighbours -----------------------------------------------------------


def _rows(X, index):
    return X.iloc[index] if hasattr(X, "iloc") else np.asarray(X)[index]


def without_row(X, y, index=-1):
    """Add-or-remove: ``(X, y)`` without row ``index``."""
    keep = np.ones(len(y), dtype=bool)
    keep[index] = False
    return _rows(X, keep), np.asarray(y)[keep]


def with_row_replaced(X, y, index, row, label):
    """Replace-one: ``(X, y)`` with row ``index`` replaced by ``row`` (a dict or a sequence) and ``label``."""
    if hasattr(X, "iloc"):
        X = X.copy()
        for column, value in dict(zip(X.columns, row) if not isinstance(row, dict) else row).items():
            if hasattr(X[column], "cat") and value not in X[column].cat.categories:
                X[column] = X[column].astype(object)
            X.loc[X.index[index], column] = value
    else:
        X = np.array(X, copy=True)
        X[index] = row
    y = np.array(y, dtype=object if isinstance(label, str) or label is None else None, copy=True)
    y[index] = label
    return X, y


def without_person(X, y, person_id, person):
    """Person level: ``(X, y, person_id)`` without every row of ``person``."""
    keep = np.asarray(person_id) != person
    return _rows(X, keep), np.asarray(y)[keep], np.asarray(person_id)[keep]


def with_row(frame, row):
    """Add-or-remove, for a table: ``frame`` (a DataFrame) with one more row, a dict of its values."""
    import pandas as pd

    return pd.concat([frame.astype(object), pd.DataFrame([row]).astype(object)], ignore_index=True)


# -- one run ------------------------------------------------------------------


@dataclass
class Observation:
    """Everything an observer sees of one run of an entry point."""

    result: object = None
    stdout: str = ""
    stderr: str = ""
    warnings: list = field(default_factory=list)
    exception: tuple = None
    logs: list = field(default_factory=list)
    files: dict = field(default_factory=dict)


@contextlib.contextmanager
def _file_descriptors(captured):
    """Fds 1 and 2 into temporary files; their text lands in ``captured`` when the block ends."""
    saved, files = {}, {}
    for fd in (1, 2):
        files[fd] = tempfile.TemporaryFile()
        saved[fd] = os.dup(fd)
        os.dup2(files[fd].fileno(), fd)
    try:
        yield
    finally:
        for fd in (1, 2):
            os.dup2(saved[fd], fd)
            os.close(saved[fd])
            files[fd].seek(0)
            captured[fd] = files[fd].read().decode(errors="replace")
            files[fd].close()


@contextlib.contextmanager
def _logging_records(records):
    """Every ``logging`` record that a logger emits (passes its level), whatever its handlers."""
    handle = logging.Logger.handle

    def recording(logger, record):
        records.append((record.name, record.levelname, record.getMessage()))
        return handle(logger, record)

    with mock.patch.object(logging.Logger, "handle", recording):
        yield


def observe(entry, folder):
    """Run ``entry(folder)`` in the empty folder ``folder`` and capture every channel.

    The working directory is ``folder`` while it runs; what it returns is
    :attr:`Observation.result`, an exception it raises is recorded (type and text), and the
    files left in ``folder`` are read back (:func:`_read_files`).
    """
    folder = Path(folder)
    observation, fds = Observation(), {}
    stdout, stderr = io.StringIO(), io.StringIO()
    before = os.getcwd()
    os.chdir(folder)
    try:
        with warnings.catch_warnings(record=True) as caught, _logging_records(observation.logs), \
                mock.patch("tqdm.std.time", lambda: 0.0), _file_descriptors(fds), \
                contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            warnings.simplefilter("always")
            try:
                observation.result = entry(folder)
            except Exception as error:  # noqa: BLE001 - an exception is a channel like any other
                observation.exception = (type(error).__name__, str(error))
            sys_flush()
    finally:
        os.chdir(before)
    observation.stdout = stdout.getvalue() + fds[1]
    observation.stderr = stderr.getvalue() + fds[2]
    observation.warnings = [(record.category.__name__, str(record.message)) for record in caught]
    observation.files = _read_files(folder)
    return observation


def sys_flush():
    import sys

    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()


def observe_neighbours(entry, first, second, folder):
    """:func:`observe` ``entry(folder, *first)`` and ``entry(folder, *second)``, each in the same
    empty ``folder`` (so that paths in messages are the same), one after the other."""
    folder = Path(folder)
    observations = []
    for inputs in (first, second):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        observations.append(observe(lambda here, inputs=inputs: entry(here, *inputs), folder))
    return observations


# -- what a file holds ---------------------------------------------------------


def _without_random(value):
    if isinstance(value, dict):
        return {key: _without_random(item) for key, item in value.items() if key not in _RANDOM_BY_DESIGN}
    if isinstance(value, list):
        return [_without_random(item) for item in value]
    return value


def _saved_members(path):
    """A zip written by ``sk_privattn.persistence.save``, member by member: the JSON as bytes, each
    array of the weights by name, dtype and shape (the values are the trained weights)."""
    members = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            if name.endswith(".npz"):
                arrays = np.load(io.BytesIO(data), allow_pickle=False)
                members[name] = {key: (str(arrays[key].dtype), arrays[key].shape) for key in arrays.files}
            else:
                members[name] = data
    return members


def _file_content(path):
    if path.suffix == ".json":
        try:
            return _without_random(json.loads(path.read_text()))
        except json.JSONDecodeError:
            pass
    if path.suffix == ".zip":
        return _saved_members(path)
    return path.read_bytes()


def _read_files(folder):
    """The files under ``folder``, but :data:`ALLOWED`: by path (random ids replaced), their content."""
    files = {}
    for path in sorted(Path(folder).rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if not path.is_file() or any(re.search(pattern, relative) for pattern in ALLOWED):
            continue
        files.setdefault(_HEX_ID.sub("<id>", relative), []).append(repr(_file_content(path)))
    return {name: sorted(contents) for name, contents in files.items()}


# -- the objects an entry point returns ----------------------------------------


def _zero_weights(obj, seen=None):
    """Zero, in place, every trainable parameter and optimizer state reachable from ``obj``."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, (str, bytes, int, float, type, np.ndarray)):
        return
    seen.add(id(obj))
    if getattr(obj, "_privacy_record_id", None) is not None:
        obj._privacy_record_id = "<random by design>"
    for name in RELEASED_ATTRIBUTES:
        if hasattr(obj, name) and not isinstance(obj, type):
            setattr(obj, name, 0.0)
    if isinstance(obj, torch.nn.Module):
        with torch.no_grad():
            for parameter in obj.parameters():
                if parameter.requires_grad:
                    parameter.zero_()
    if isinstance(obj, torch.optim.Optimizer):
        for state in obj.state.values():
            for value in state.values():
                if isinstance(value, torch.Tensor) and value.is_floating_point():
                    value.zero_()
    children = vars(obj).values() if hasattr(obj, "__dict__") else ()
    if isinstance(obj, dict):
        children = obj.values()
    elif isinstance(obj, (list, tuple)):
        children = obj
    for child in list(children):
        _zero_weights(child, seen)


#: A storage key of torch's pickle of a tensor: the tensor's address in memory, as digits.
_STORAGE_KEY = re.compile(rb"\d{8,20}")


def _numbered_storage_keys(data):
    """``data`` with each storage key replaced by its rank of first appearance (as many digits):
    addresses in memory are not a channel."""
    keys = {}

    def rank(match):
        key = match.group()
        return keys.setdefault(key, str(len(keys)).zfill(len(key)).encode())

    return _STORAGE_KEY.sub(rank, data)


def pickled_without_weights(obj):
    """The pickle of a copy of ``obj`` whose trainable weights (and optimizer moments) are zero,
    its storage keys numbered."""
    copied = copy.deepcopy(obj)
    _zero_weights(copied)
    return _numbered_storage_keys(pickle.dumps(copied))


def saved_without_weights(obj, folder):
    """What ``sk_privattn.persistence.save`` writes of ``obj``, member by member (weights as shapes)."""
    from sk_privattn.persistence import save

    path = Path(folder) / "saved-by-the-harness.zip"
    save(obj, path)
    try:
        return _saved_members(path)
    finally:
        path.unlink()


# -- the comparison -------------------------------------------------------------


_CHANNELS = ("stdout", "stderr", "warnings", "exception", "logs", "files")


def _is_saved_estimator(obj):
    from sk_privattn.persistence import _estimator_classes

    return type(obj).__name__ in _estimator_classes() and hasattr(obj, "module_")


def _first_difference(a, b):
    """A short account of how ``a`` and ``b`` differ, for a failing assertion."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b), key=str)
        return {key: _first_difference(a.get(key), b.get(key)) for key in keys if a.get(key) != b.get(key)}
    if isinstance(a, list) and isinstance(b, list) and all(isinstance(x, str) for x in a + b):
        return sorted(set(a) ^ set(b))[:5] or f"{len(a)} against {len(b)} entries"
    if isinstance(a, list) and isinstance(b, list):
        extra = [item for item in a if item not in b] + [item for item in b if item not in a]
        return extra[:5] or f"{len(a)} against {len(b)} entries, in another order"
    if isinstance(a, str) and isinstance(b, str):
        lines_a, lines_b = a.splitlines(), b.splitlines()
        for index, (line_a, line_b) in enumerate(zip(lines_a, lines_b)):
            if line_a != line_b:
                return f"line {index}: {line_a[:300]!r} against {line_b[:300]!r}"
        return f"{len(lines_a)} against {len(lines_b)} lines; the longer goes on {(lines_a + lines_b)[min(len(lines_a), len(lines_b)):][:2]!r}"
    return (repr(a)[:300], repr(b)[:300])


def describe(found):
    """``channel_differences`` as short text, one line per channel."""
    lines = []
    for channel, value in found.items():
        shown = value[:8] if channel == "state" else (value if isinstance(value, str) else _first_difference(*value))
        lines.append(f"{channel}: {shown}")
    return "\n".join(lines)


def channel_differences(first, second, *, state=True):
    """The channels in which two observations differ, each with the two values (empty: none).

    With ``state``, the returned objects are compared too: everything reachable from them
    (``test_neighbouring.differences``, the trained weights apart), their pickles with the
    weights zeroed, and, for an estimator that ``sk_privattn.persistence`` saves, what it saves.
    """
    found = {}
    for channel in _CHANNELS:
        a, b = getattr(first, channel), getattr(second, channel)
        if a != b:
            found[channel] = (a, b)
    if not state:
        return found
    paths = [path for path in differences(first.result, second.result)
             if not any(re.search(pattern, path) for pattern in ALLOWED_STATE)]
    if paths:
        found["state"] = paths
    elif pickled_without_weights(first.result) != pickled_without_weights(second.result):
        found["pickle"] = "the pickles differ beyond the trained weights"
    if _is_saved_estimator(first.result) and _is_saved_estimator(second.result):
        with tempfile.TemporaryDirectory() as here:
            saved = saved_without_weights(first.result, here), saved_without_weights(second.result, here)
        if saved[0] != saved[1]:
            found["saved"] = saved
    return found
