"""A one-run privacy audit (Steinke, Nasr & Jagielski, 2023, "Privacy auditing with one (1)
training run").

The auditor flips a fair coin for each of ``m`` canaries: heads, the canary
joins the training data. It trains **once**, scores every canary from what the
trained model reveals, guesses "in" for the highest scores and "out" for the
lowest (abstaining on the rest), and counts the right guesses. If the training
is (ε, δ)-DP, the count is stochastically dominated by what randomised
response at ε would reach (their Theorem 5.2), whatever the dependence
between the canaries: the coins are the only randomness the bound needs, and
they are the auditor's. The largest ε that the count rules out, at the stated
confidence, is a valid lower bound on the ε of the training.

The relation of that bound is add-or-remove: each coin adds a canary to the
training data or leaves it out, so the number of rows trained on varies with
the coins (and an estimator under add-or-remove plans from a DP count of
them). Compare it with the ``epsilon_`` of a fit under
``neighbouring="add_or_remove"``. A fit under ``"replace_one"`` claims
nothing about data sets of different sizes (it may publish their size), so
its ``epsilon_`` is not a bound that this audit can test.
"""

import math

import numpy as np
import torch
from scipy.stats import binom
from sklearn.base import clone
from sklearn.utils import _safe_indexing, check_random_state

from ._base import initial_module, module_inputs
from .privacy import Relation, Unit

__all__ = ["OneRunAuditResult", "concat_rows", "one_run_audit", "one_run_epsilon"]


def _p_value(n_canaries, n_guesses, n_correct, epsilon, delta):
    """P[at least ``n_correct`` right of ``n_guesses``] under (ε, δ)-DP (Steinke et al. 2023, Thm 5.2).

    An ε-DP algorithm lets no guesser beat randomised response, whose guesses
    are right with probability ``q = e^ε / (1 + e^ε)``: the count of right
    guesses is dominated by Binomial(r, q). δ adds at most
    ``2 m δ max_i P[v - i <= Binomial(r, q) < v] / i``.
    """
    q = 1.0 / (1.0 + math.exp(-epsilon))
    p_value = binom.sf(n_correct - 1, n_guesses, q)
    if delta > 0 and n_correct > 0:
        below = binom.pmf(n_correct - np.arange(1, n_correct + 1), n_guesses, q)
        p_value += 2 * n_canaries * delta * float(np.max(np.cumsum(below) / np.arange(1, n_correct + 1)))
    return min(float(p_value), 1.0)


def one_run_epsilon(n_canaries, n_guesses, n_correct, *, delta, confidence=0.95):
    """ε lower bound of a one-run audit (Steinke, Nasr & Jagielski, 2023).

    The auditor puts each of ``n_canaries`` canaries into the training data
    by its own fair coin, trains **once**, then guesses "in" or "out" for
    ``n_guesses`` of them (abstaining on the rest) from anything the trained
    model reveals. If the training is (ε, δ)-DP, the number of right guesses
    is, with probability at least ``confidence``, below what randomised
    response at ε could reach; the largest ε that this count rules out is
    returned. Unlike a bound computed from many rows scored against one
    model as if they were independent trials, this one is valid: the coins
    are the auditor's, and the theorem holds for guesses that depend on each
    other.

    Parameters
    ----------
    n_canaries : int
        Canaries, each included with probability 1/2.
    n_guesses : int
        Guesses made (``<= n_canaries``).
    n_correct : int
        Right guesses (``<= n_guesses``).
    delta : float
        δ of the hypothesis, in [0, 1].
    confidence : float, default=0.95

    Returns
    -------
    epsilon_lower_bound : float
        0 when the guesses rule nothing out.

    Examples
    --------
    >>> from sk_privattn.audit import one_run_epsilon
    >>> one_run_epsilon(1000, 100, 50, delta=1e-5)    # a coin toss proves nothing
    0.0
    >>> round(one_run_epsilon(1000, 100, 100, delta=1e-5), 2)
    3.47
    """
    if not 0 <= n_correct <= n_guesses <= n_canaries:
        raise ValueError(
            f"Need 0 <= n_correct <= n_guesses <= n_canaries; got n_correct={n_correct}, "
            f"n_guesses={n_guesses}, n_canaries={n_canaries}."
        )
    alpha = 1.0 - confidence
    if n_guesses == 0 or _p_value(n_canaries, n_guesses, n_correct, 0.0, delta) >= alpha:
        return 0.0
    low, high = 0.0, 1.0
    while _p_value(n_canaries, n_guesses, n_correct, high, delta) < alpha:
        low, high = high, 2 * high
        if high > 1e3:
            return low
    while high - low > 1e-4:
        middle = (low + high) / 2
        if _p_value(n_canaries, n_guesses, n_correct, middle, delta) < alpha:
            low = middle
        else:
            high = middle
    return low


class OneRunAuditResult:
    """What :func:`one_run_audit` found.

    Attributes
    ----------
    mode : str
    epsilon_lower_bound : float
        ε that the guesses prove the training spent at least, at ``delta``
        and ``confidence`` (0 when they prove nothing), for adding or removing
        one canary (``neighbouring``).
    neighbouring : str
        "add_or_remove": the relation of the bound.
    unit : {"row", "person"}
        What a canary is: a row, or a person with all their rows.
    n_canaries, n_guesses, n_correct : int
    included : ndarray of bool, shape (n_canaries,)
        The auditor's coins: which canaries were trained on.
    scores : ndarray of shape (n_canaries,)
        Each canary's score (higher means "in").
    delta, confidence : float
    estimator : estimator
        The model trained on the data and the included canaries.
    """

    def __init__(self, mode, epsilon_lower_bound, n_canaries, n_guesses, n_correct, included, scores, delta,
                 confidence, estimator, unit=Unit.ROW):
        self.mode = mode
        self.epsilon_lower_bound = epsilon_lower_bound
        self.neighbouring = Relation.ADD_OR_REMOVE.value
        self.unit = unit
        self.n_canaries = n_canaries
        self.n_guesses = n_guesses
        self.n_correct = n_correct
        self.included = included
        self.scores = scores
        self.delta = delta
        self.confidence = confidence
        self.estimator = estimator

    def __repr__(self):
        return (
            f"OneRunAuditResult(mode={self.mode!r}, epsilon_lower_bound={self.epsilon_lower_bound:.3f} "
            f"(add or remove one canary {self.unit}) at delta={self.delta:g}, {self.confidence:.0%} confidence; "
            f"{self.n_correct} of {self.n_guesses} "
            f"guesses right on {self.n_canaries} canaries)"
        )


def concat_rows(parts):
    """The rows of ``parts`` (arrays, or DataFrames) one after the other."""
    if hasattr(parts[0], "iloc"):
        import pandas as pd

        return pd.concat(parts, ignore_index=True)
    return np.concatenate([np.asarray(part) for part in parts])


def _black_box_scores(fitted, X_canary, y_canary, group):
    """log p(label of the canary): a canary that the model fits well was probably trained on.
    A canary of several rows (a person) scores the sum over its rows."""
    classes, y_canary = np.asarray(fitted.classes_), np.asarray(y_canary)
    index = np.searchsorted(classes, y_canary)
    proba = fitted.predict_proba(X_canary)
    rows = np.log(np.clip(proba[np.arange(len(index)), index], 1e-300, 1.0))
    return np.bincount(group, weights=rows)


def _canary_gradients(module, inputs, target, group):
    """The gradient of each canary's loss at the weights of ``module``, one canary (the sum over
    its rows) at a time."""
    module.eval()
    rows_of = [np.flatnonzero(group == canary) for canary in range(int(group.max()) + 1)]
    for rows in rows_of:
        module.zero_grad()
        index = torch.as_tensor(rows)
        logits = module(**{name: tensor[index] for name, tensor in inputs.items()})
        torch.nn.functional.cross_entropy(logits, target[index], reduction="sum").backward()
        yield [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in module.parameters()]


def _white_box_scores(fitted, X_canary, y_canary, group):
    """How far training moved the weights along each canary's own descent direction.

    The weights start from ``initial_module`` (rebuilt from the fit's seed);
    ``g`` is the gradient of a canary's loss there (summed over its rows, for a
    canary of several rows). The score is ``<θ_end - θ_start, -g>`` over the
    weights that no other canary's gradient touches (a canary with a category
    of its own owns that category's embedding: a gradient canary on the
    module), normalised by ``|g|`` there; over all the weights for a canary
    that owns none. Which weights a canary owns depends on the canaries
    alone, not on the coins. A network with ``additive_terms`` starts its
    attention head at zero, so ``g`` reaches only the additive terms and the
    head: the score then reads how those moved, a weaker probe of the
    attention (a person canary audit without noise got 92 of 100 guesses
    right with them, 100 without).
    """
    start = initial_module(fitted)
    moved = [(end - begin).detach() for end, begin in zip(fitted.module_.parameters(), start.parameters())]
    inputs = module_inputs(fitted, X_canary)
    target = torch.as_tensor(np.searchsorted(np.asarray(fitted.classes_), np.asarray(y_canary)), dtype=torch.long)
    touched = [torch.zeros_like(step) for step in moved]
    for gradient in _canary_gradients(start, inputs, target, group):
        for count, g in zip(touched, gradient):
            count += g != 0
    scores = np.empty(int(group.max()) + 1)
    for canary, gradient in enumerate(_canary_gradients(start, inputs, target, group)):
        owned = [(g != 0) & (count == 1) for g, count in zip(gradient, touched)]
        if not any(bool(mask.any()) for mask in owned):
            owned = [torch.ones_like(mask) for mask in owned]
        along = sum(float((-g * step)[mask].sum()) for g, step, mask in zip(gradient, moved, owned))
        norm = math.sqrt(sum(float(g[mask].pow(2).sum()) for g, mask in zip(gradient, owned)))
        scores[canary] = abs(along) / norm if norm > 0 else 0.0
    return scores


_SCORES = {"black-box": _black_box_scores, "white-box": _white_box_scores}


def one_run_audit(
    estimator,
    X,
    y,
    X_canary,
    y_canary,
    *,
    mode="black-box",
    n_guesses=None,
    delta=None,
    confidence=0.95,
    random_state=None,
    canary_person_id=None,
    person_id=None,
):
    """Audit a DP training algorithm with one training run (Steinke, Nasr & Jagielski, 2023).

    Each canary joins the training data by a fair coin of the auditor; a
    clone of ``estimator`` is trained once on ``X, y`` and the included
    canaries; every canary is scored; the ``n_guesses / 2`` highest scores
    are guessed "in" and the ``n_guesses / 2`` lowest "out"; and the number
    of right guesses gives a valid ε lower bound (:func:`one_run_epsilon`).
    A bound above the ``epsilon_`` of the trained model means that the DP
    training is broken. A small bound proves nothing about privacy: only
    that this attack failed.

    Parameters
    ----------
    estimator : classifier
        Not fitted: it is cloned and fitted here. For ``mode="white-box"``
        a DP estimator of this package with an int ``random_state``.
    X, y : array-like or DataFrame
        Training rows that are always in.
    X_canary, y_canary : array-like or DataFrame
        The canaries, in the form of ``X, y``. Canaries that a model can
        only fit by memorising them (a rare category, a flipped label)
        make the audit stronger.
    mode : {"black-box", "white-box"}, default="black-box"
        "black-box" scores a canary by the log probability that
        ``predict_proba`` gives its label. "white-box" reads the trained
        module: it rebuilds the initial weights from the fit's seed and
        scores a canary by how far training moved the weights along the
        canary's own gradient (a gradient canary, measured on the module).
    n_guesses : int, default=None
        Guesses, split evenly between "in" and "out"; ``None`` guesses on
        a quarter of the canaries.
    delta : float, default=None
        δ of the hypothesis; ``None`` uses the trained model's ``delta_``.
    confidence : float, default=0.95
    random_state : int, RandomState instance or None, default=None
        The auditor's coins.
    canary_person_id : array-like of shape (n_canary_rows,), default=None
        Canaries that are persons: the person of each canary row. A coin
        then adds or removes all of a person's rows at once, the person is
        scored (the sum over their rows) and guessed on, and the bound is a
        person-level bound. ``None``: each canary row is a canary.
    person_id : array-like of shape (n_rows,), default=None
        The person of each row of ``X``. Given, the estimator is fitted at
        person level (``fit(..., person_id=...)``, the canary persons added);
        ``None`` fits it at row level, which with ``canary_person_id`` audits
        what a row-level fit protects of a person.

    Returns
    -------
    OneRunAuditResult

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sk_privattn.audit import one_run_audit
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> X_canary = rng.normal(size=(200, 5))
    >>> y_canary = (X_canary[:, 0] <= 0).astype(int)     # mislabelled: hard to fit unless memorised
    >>> result = one_run_audit(LogisticRegression(), X, y, X_canary, y_canary, delta=1e-5, random_state=0)
    >>> result.epsilon_lower_bound    # a linear model cannot memorise them: nothing proved
    0.0
    """
    if mode not in _SCORES:
        raise ValueError(f"mode={mode!r}; use 'black-box' or 'white-box'.")
    if canary_person_id is None:
        group = np.arange(len(y_canary))
    else:
        _, group = np.unique(np.asarray(canary_person_id).astype(str), return_inverse=True)
        if len(group) != len(y_canary):
            raise ValueError(
                f"canary_person_id has {len(group)} entries for {len(y_canary)} canary rows; give the person "
                "of every canary row."
            )
    n_canaries = int(group.max()) + 1 if len(group) else 0
    n_guesses = n_canaries // 4 if n_guesses is None else int(n_guesses)
    if not 2 <= n_guesses <= n_canaries:
        raise ValueError(f"n_guesses={n_guesses}; guess on between 2 and the {n_canaries} canaries.")
    if mode == "white-box" and not isinstance(getattr(estimator, "random_state", None), (int, np.integer)):
        raise ValueError(
            "mode='white-box' rebuilds the initial weights from the fit's seed: give the estimator an int "
            f"random_state (got random_state={getattr(estimator, 'random_state', None)!r})."
        )
    included = check_random_state(random_state).rand(n_canaries) < 0.5
    chosen = np.flatnonzero(included[group])
    fit_params = {}
    if person_id is not None:
        # The canary persons get ids of their own, apart from those of X.
        canary_ids = np.char.add("canary-", group[chosen].astype(str))
        fit_params["person_id"] = np.concatenate([np.asarray(person_id).astype(str), canary_ids])
    fitted = clone(estimator).fit(
        concat_rows([X, _safe_indexing(X_canary, chosen)]),
        np.concatenate([np.asarray(y), np.asarray(y_canary)[chosen]]),
        **fit_params,
    )
    scores = _SCORES[mode](fitted, X_canary, y_canary, group)
    order = np.argsort(scores, kind="stable")
    guessed_out, guessed_in = order[: n_guesses // 2], order[n_canaries - (n_guesses - n_guesses // 2):]
    n_correct = int(included[guessed_in].sum() + (~included[guessed_out]).sum())
    delta = float(getattr(fitted, "delta_", 0.0)) if delta is None else float(delta)
    bound = one_run_epsilon(n_canaries, n_guesses, n_correct, delta=delta, confidence=confidence)
    return OneRunAuditResult(mode, bound, n_canaries, n_guesses, n_correct, included, scores, delta, confidence,
                             fitted, unit=(Unit.ROW if canary_person_id is None else Unit.PERSON).value)
