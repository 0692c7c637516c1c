"""The fitted state holds only what DP-SGD released.

Every public estimator is fitted twice with the same ``random_state``: on D,
and on D with one row replaced (so n, the Poisson batches and the noise are
the same). Then everything reachable from the two fitted objects is walked
(what ``pickle`` stores, attributes of tensors, gradients): any value that
differs must be a trainable parameter of ``module_``, which DP-SGD noised, or
be on ``ALLOWED`` below with its reason. An un-noised gradient, a training
loss, a batch size or anything else computed from the rows shows up as a
difference.
"""

import contextlib
import io
import math
import pickle
import re
import types
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from sk_privattn import DPAttentionClassifier, DPAttentionRegressor, DPSequenceClassifier, PrivacyLeakWarning
from sk_privattn.model_selection import PrivateRandomSearch

from _settings import FAST_PARAMS, FAST_SEQUENCE_PARAMS
from conftest import PUBLIC, make_mixed_frame, make_series

#: Paths (regular expressions) whose values may differ between the two fits, each with its reason.
ALLOWED = {
    r"\.net_\.__cuda_dependent_attributes__\['optimizer_'\]\.state\[": (
        "the optimizer's moments (Adam) are computed from the noised gradients that DP-SGD "
        "released, and from nothing else: post-processing"
    ),
    r"^\.best_score_$": (
        "PrivateRandomSearch: the chosen candidate's noisy validation score, a release that "
        "its epsilon_ covers (Papernot & Steinke 2022, Theorem 2)"
    ),
}

_PRIMITIVES = (type(None), bool, int, float, complex, str, bytes, np.generic)


def walk(obj, skip_trainable=False):
    """Everything reachable from ``obj``: a dict of path -> comparable leaf.

    Objects are opened as ``pickle`` opens them (``__reduce_ex__``); tensors
    are leaves, with their attributes and gradient walked too. With
    ``skip_trainable``, the values of trainable parameters (``nn.Parameter``
    with ``requires_grad``: the weights of ``module_``, and of its copy that
    skorch pickles with ``net_``) are left out; their attributes are not.
    """
    leaves, seen = {}, {}

    def visit(value, path):
        if isinstance(value, _PRIMITIVES):
            leaves[path] = ("nan",) if isinstance(value, float) and math.isnan(value) else value
            return
        if id(value) in seen:
            leaves[path] = ("same object as", seen[id(value)][0])
            return
        # Keep the object alive: the walk makes temporaries, whose ids would be reused.
        seen[id(value)] = (path, value)
        if isinstance(value, torch.Tensor):
            if not (skip_trainable and isinstance(value, torch.nn.Parameter) and value.requires_grad):
                leaves[path] = ("tensor", value.detach().cpu().numpy().tobytes(), tuple(value.shape))
            for name, attribute in vars(value).items():
                visit(attribute, f"{path}.{name}")
            if value.grad is not None:
                visit(value.grad, f"{path}.grad")
        elif isinstance(value, np.ndarray):
            if value.dtype == object:
                for index, item in enumerate(value.ravel()):
                    visit(item, f"{path}[{index}]")
            else:
                leaves[path] = ("array", value.tobytes(), value.shape, str(value.dtype))
        elif isinstance(value, dict):
            # torch keys a module's hooks by a process-wide counter: by position then.
            by_position = path.endswith("hooks")
            for index, (key, item) in enumerate(value.items()):
                label = repr(key) if isinstance(key, _PRIMITIVES) and not by_position else f"<key {index}>"
                if not isinstance(key, _PRIMITIVES):
                    visit(key, f"{path}{{{label}}}")
                visit(item, f"{path}[{label}]")
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                visit(item, f"{path}[{index}]")
        elif isinstance(value, (set, frozenset)):
            for index, item in enumerate(sorted(value, key=repr)):
                visit(item, f"{path}[{index}]")
        elif isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType)):
            leaves[path] = ("ref", getattr(value, "__module__", None), getattr(value, "__qualname__", repr(value)))
        elif isinstance(value, torch.Generator):
            leaves[path] = ("generator", value.get_state().numpy().tobytes())
        else:
            reduced = value.__reduce_ex__(4)
            if isinstance(reduced, str):  # a global, pickled by name
                leaves[path] = ("ref", reduced)
                return
            leaves[f"{path}<type>"] = ("ref", type(value).__module__, type(value).__qualname__)
            _, args, *rest = reduced + (None,) * (5 - len(reduced))
            state, list_items, dict_items = rest[:3]
            visit(args, f"{path}<args>")
            if isinstance(state, dict):
                for name, item in state.items():
                    if name == "__cuda_dependent_attributes__":
                        # skorch pickles its module, criterion and optimizer into
                        # bytes of their own: open them.
                        item = pickle.loads(item)
                    visit(item, f"{path}.{name}")
            elif state is not None:
                visit(state, f"{path}<state>")
            if list_items is not None:
                visit(list(list_items), f"{path}<items>")
            if dict_items is not None:
                visit(dict(dict_items), f"{path}<items>")

    visit(obj, "")
    return leaves


def differences(fitted_a, fitted_b):
    """Paths whose values differ between two fitted objects and are neither trainable nor allowed."""
    a, b = walk(fitted_a, skip_trainable=True), walk(fitted_b, skip_trainable=True)
    differing = sorted(path for path in set(a) | set(b) if a.get(path, "<absent>") != b.get(path, "<absent>"))
    return [path for path in differing if not any(re.search(pattern, path) for pattern in ALLOWED)]


def _replace_one_row(X, y, index, X_other, y_other, other):
    """D with row ``index`` replaced by row ``other`` of (X_other, y_other): n stays the same."""
    if hasattr(X, "iloc"):
        X = X.copy()
        X.iloc[index] = X_other.iloc[other]
    else:
        X = np.array(X, copy=True)
        X[index] = X_other[other]
    y = np.array(y, copy=True)
    y[index] = y_other[other]
    return X, y


def _tabular(n_samples=120, index=0):
    X, y = make_mixed_frame(n_samples=n_samples)
    X_other, y_other = make_mixed_frame(n_samples=50, seed=1)
    # A row unlike the one it replaces, with the other label.
    other = int(np.flatnonzero(y_other != y[index])[0])
    return (X, y), _replace_one_row(X, y, index, X_other, y_other, other)


def _series():
    X, y = make_series(n_samples=96)
    X_other, y_other = make_series(n_samples=20, seed=1)
    other = int(np.flatnonzero(y_other != y[0])[0])
    return (X, y), _replace_one_row(X, y, 0, X_other, y_other, other)


def _regression():
    (X, y), _ = _tabular()
    target = X["age"].to_numpy() / 10 + X["income"].to_numpy() / 20
    X_neighbour = X.copy()
    X_neighbour.iloc[0] = X.iloc[1]
    target_neighbour = target.copy()
    target_neighbour[0] = 1.0  # far from every other target
    return (X, target), (X_neighbour, target_neighbour)


TABULAR = dict(FAST_PARAMS, epsilon=1.0, random_state=0, classes=[0, 1], **PUBLIC)
SEQUENCE = dict(FAST_SEQUENCE_PARAMS, epsilon=1.0, random_state=0, classes=[0, 1])


def _fit_twice(make_estimator, datasets, fit=lambda estimator, X, y: estimator.fit(X, y)):
    fitted = []
    for X, y in datasets:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PrivacyLeakWarning)
            fitted.append(fit(make_estimator(), X, y))
    return fitted


def _warm_fit(estimator, X, y):
    estimator.fit(X, y)
    return estimator.set_params(epsilon=2.0).fit(X, y)


def _weighted_fit(estimator, X, y):
    return estimator.fit(X, y, sample_weight=1.0 + (np.arange(len(y)) % 4))


def _missing_age(datasets):
    return [(X.assign(age=X["age"].where(np.arange(len(X)) % 5 > 0)), y) for X, y in datasets]


REGRESSOR = {**{k: v for k, v in TABULAR.items() if k != "classes"}, "target_bounds": (0, 15), "loss": "huber"}
SEARCH_GRID = {"epsilon": [1.0, 2.0], "lr": [0.01, 0.02]}


def _search(**params):
    # Which candidate wins is a DP release (the theorem covers it); with this seed the two
    # neighbours of every test here choose the same one, so that everything else can be compared.
    return PrivateRandomSearch(DPAttentionClassifier(**TABULAR, **params), SEARCH_GRID, mean_n_candidates=2,
                               random_state=1, **params)


#: name -> (make_estimator(**params), the pair (D, D with one row replaced), fit)
CASES = {
    "classifier": (lambda **p: DPAttentionClassifier(**TABULAR, **p), _tabular, None),
    "classifier, class weights and cosine schedule off": (
        lambda **p: DPAttentionClassifier(**TABULAR, class_weight={0: 1.0, 1: 3.0}, **{"lr_schedule": "constant", **p}),
        _tabular,
        None,
    ),
    "classifier, sample weights": (
        lambda **p: DPAttentionClassifier(**TABULAR, max_sample_weight=4.0, **p), _tabular, _weighted_fit
    ),
    "classifier, missing values": (
        lambda **p: DPAttentionClassifier(**TABULAR, **p), lambda: _missing_age(_tabular()), None
    ),
    "regressor": (lambda **p: DPAttentionRegressor(**REGRESSOR, **p), _regression, None),
    "classifier, polynomial architecture and missing values": (
        lambda **p: DPAttentionClassifier(**TABULAR, architecture="polynomial", **p), lambda: _missing_age(_tabular()),
        None,
    ),
    "regressor, polynomial architecture": (
        lambda **p: DPAttentionRegressor(**{**REGRESSOR, "loss": "squared_error"}, architecture="polynomial", **p),
        _regression,
        None,
    ),
    "sequence, transformer": (lambda **p: DPSequenceClassifier(**SEQUENCE, **p), _series, None),
    "sequence, lstm_attention": (
        lambda **p: DPSequenceClassifier(**SEQUENCE, architecture="lstm_attention", **p), _series, None
    ),
    "warm start": (lambda **p: DPAttentionClassifier(**TABULAR, warm_start=True, **p), _tabular, _warm_fit),
    # Row 1: the keyed sampler draws a row's steps from the seed and its position alone, and with
    # these seeds no batch of the chosen candidate holds row 0, so that replacing it changes nothing.
    "PrivateRandomSearch": (_search, lambda: _tabular(n_samples=160, index=1), None),
}


def _fit_case(case, datasets, **params):
    make_estimator, _, fit = CASES[case]
    return _fit_twice(lambda: make_estimator(**params), datasets, **({"fit": fit} if fit else {}))


def neighbouring_fits(case, **params):
    """The fits of ``case`` on D and on D with one row replaced, with the same seed."""
    return _fit_case(case, CASES[case][1](), **params)


def _without_last_row(X, y):
    """D with its last row removed: the add-or-remove neighbour (n is one less)."""
    return (X.iloc[:-1] if hasattr(X, "iloc") else X[:-1]), y[:-1]


@pytest.fixture
def forced_count(monkeypatch):
    """Every DP count of the rows releases the same value, whatever the data: the two
    neighbours of an add-or-remove test then draw noises that differ by one."""
    from sk_privattn.privacy import _count

    monkeypatch.setattr(_count, "release_count", lambda n, epsilon, seed: _count.DPCount(140, epsilon))


@pytest.mark.parametrize("relation", ["add_or_remove", "replace_one"])
@pytest.mark.parametrize("case", list(CASES))
def test_neighbouring_fits_differ_only_in_trainable_weights(case, relation):
    """D against D with one row replaced, same seed: n is the same, so under add-or-remove the DP
    count draws the same value too, and under replace-one n is public."""
    fitted_on_d, fitted_on_neighbour = neighbouring_fits(case, neighbouring=relation)
    assert differences(fitted_on_d, fitted_on_neighbour) == []
    # The test can see: the weights themselves do differ.
    assert walk(fitted_on_d) != walk(fitted_on_neighbour)


@pytest.mark.parametrize("case", list(CASES))
def test_fits_without_one_row_differ_only_in_trainable_weights_given_the_same_count(case, forced_count):
    """Add-or-remove: D against D without its last row, same seed, the DP count forced to the same
    release. Nothing reads the exact number of rows, so nothing but the weights may differ."""
    (X, y), _ = CASES[case][1]()
    fitted_on_d, fitted_on_neighbour = _fit_case(case, [(X, y), _without_last_row(X, y)])
    assert differences(fitted_on_d, fitted_on_neighbour) == []
    assert walk(fitted_on_d) != walk(fitted_on_neighbour)


@pytest.mark.parametrize("case", ["classifier", "regressor", "sequence, transformer", "PrivateRandomSearch"])
def test_fits_without_one_row_differ_only_in_trainable_weights_given_a_public_count(case):
    """Add-or-remove with public_count: the plan is the same for any n."""
    (X, y), _ = CASES[case][1]()
    fitted = _fit_case(case, [(X, y), _without_last_row(X, y)], public_count=150)
    assert differences(*fitted) == []
    assert fitted[0].count_ == fitted[1].count_ == 150 and fitted[0].count_epsilon_ == 0.0


def test_without_a_public_count_the_plan_reads_a_dp_count_that_varies_with_the_seed():
    """The reproduction of issue 19: with the defaults, delta_ was 1/(10 n), a fixed function
    of n, so that two neighbours' delta_ told whether a row was in. Now the plan reads a DP
    count: for the same seed it moves by the one row, across seeds it varies; and the default δ
    reads public inputs only (issue 32), the same for every count."""
    (X, y), _ = _tabular(n_samples=400)
    fits = {}
    for seed in range(3):
        for data in [(X, y), _without_last_row(X, y)]:
            clf = DPAttentionClassifier(**{**TABULAR, "random_state": seed}).fit(*data)
            fits[seed, len(data[1])] = clf
    for seed in range(3):
        on_d, on_neighbour = fits[seed, len(y)], fits[seed, len(y) - 1]
        assert on_d.count_ - on_neighbour.count_ == 1  # the same noise draw
        assert on_d.delta_ == on_neighbour.delta_ == 1e-5 and on_d.count_epsilon_ == pytest.approx(0.02)
    assert len({fits[seed, len(y)].count_ for seed in range(3)}) == 3


def _federated_fits(datasets, **params):
    pytest.importorskip("flwr")
    from sk_privattn.federated import FederatedDPAttentionClassifier

    settings = {key: value for key, value in TABULAR.items() if key not in ("max_epochs", "classes")}

    def fit(estimator, X, sites_and_y):
        sites, y = sites_and_y
        return estimator.fit(X, y, groups=sites)

    return _fit_twice(
        lambda: FederatedDPAttentionClassifier(**settings, n_rounds=2, classes=[0, 1], backend="in-process", **params),
        [(X, (sites, y)) for X, sites, y in datasets],
        fit=fit,
    )


@pytest.mark.parametrize("relation", ["add_or_remove", "replace_one"])
def test_federated_neighbouring_fits_differ_only_in_trainable_weights(relation):
    """Record level: one row of one site replaced."""
    (X, y), (X_neighbour, y_neighbour) = _tabular(n_samples=150)
    sites = np.repeat(["north", "south", "west"], 50)
    fitted = _federated_fits([(X, sites, y), (X_neighbour, sites, y_neighbour)], neighbouring=relation)
    assert differences(*fitted) == []


def test_federated_fits_without_one_row_of_a_site_differ_only_in_trainable_weights(forced_count):
    """Record level, add-or-remove: the last row of the last site removed. Each site's plan and
    its weight in FedAvg read its (here forced) DP count, never its exact size."""
    (X, y), _ = _tabular(n_samples=150)
    sites = np.repeat(["north", "south", "west"], 50)
    fitted = _federated_fits([(X, sites, y), (X.iloc[:-1], sites[:-1], y[:-1])])
    assert differences(*fitted) == []


def test_client_level_fits_without_one_site_differ_only_in_trainable_weights():
    """Client level: one whole site's data replaced by other rows, more of them (its size is private too)."""
    (X, y), _ = _tabular(n_samples=150)
    X_other, y_other = make_mixed_frame(n_samples=70, seed=1)
    sites = np.repeat(["north", "south", "west"], 50)
    X_neighbour = pd.concat([X.iloc[:100], X_other], ignore_index=True)
    y_neighbour = np.r_[y[:100], y_other]
    sites_neighbour = np.repeat(["north", "south", "west"], [50, 50, 70])
    fitted = _federated_fits([(X, sites, y), (X_neighbour, sites_neighbour, y_neighbour)], dp_level="client",
                             fraction_fit=0.7)
    assert differences(*fitted) == []
    assert walk(fitted[0]) != walk(fitted[1])


def test_printed_progress_is_the_same_for_neighbouring_data(forced_count):
    """verbose=1 prints the epoch and the ε spent, never a loss: the same for D, for D with one
    row replaced and for D without one row (its DP count forced to the same release)."""
    (X, y), replaced = _tabular()
    printed = []
    for X, y in [(X, y), replaced, _without_last_row(X, y)]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            DPAttentionClassifier(**TABULAR, verbose=1).fit(X, y)
        printed.append(out.getvalue())
    assert printed[0] == printed[1] == printed[2]
    assert "epsilon" in printed[0] and "loss" not in printed[0]


def test_the_walk_finds_a_leak():
    """A stand-in for the bugs this test exists for: an un-noised statistic left on the model."""
    first, second = _fit_case("classifier", _tabular())
    for fitted, (X, y) in zip((first, second), _tabular()):
        parameter = next(fitted.module_.parameters())
        parameter.summed_grad = torch.full_like(parameter, float(np.mean(X["age"])))
    found = differences(first, second)
    assert found and all(path.endswith(".summed_grad") for path in found)
