"""Private model selection: a random search whose guarantee covers the choice of the model.

The algorithm is that of Papernot & Steinke, "Hyperparameter Tuning with
Renyi Differential Privacy", ICLR 2022 (Theorem 2, the truncated negative
binomial with η = 1, i.e. a geometric number of candidates):

1. Each row goes, by an independent coin, to the training part or to the
   validation part (``validation_fraction``).
2. Draw the number of candidates ``K`` from a geometric distribution with
   mean ``mean_n_candidates``.
3. ``K`` times, independently: draw a candidate's parameters uniformly from
   the grid, train it with DP-SGD on the training part, and score it by a
   noisy count of correct predictions on the validation part (Gaussian
   noise of standard deviation ``score_noise``).
4. Return the candidate with the best noisy score.

``K`` must stay hidden, so nothing the search prints, warns or raises depends
on it: the candidates train silently, the warnings are those of every point of
the grid, each once, and the split, the count and the candidates draw from
separate streams of the search's generator (docs/reporting.md). Its duration
grows with ``K``: do not publish it.

Each run ``Q`` of step 3 is (λ, ε_Q(λ))-RDP, where ε_Q(λ) is the largest,
over the grid, of the training mechanism's RDP and the score's RDP λ/(2σ²)
(a row is in only one part), under the search's ``neighbouring`` relation
(under replace-one, the training's RDP is bounded from the add-or-remove
RDP by Mironov's weak triangle inequality, see
:func:`~sk_privattn.privacy.history_rdp`). Theorem 2 then gives the RDP of the whole
search, at every order λ and for every λ̂ ≥ 1::

    ε(λ) = ε_Q(λ) + 2 (1 - 1/λ̂) ε_Q(λ̂) + 2 log(1/γ) / λ̂ + log(E[K]) / (λ - 1)

with γ = 1 / ``mean_n_candidates`` and E[K] = 1/γ, converted to (ε, δ) by
Opacus' RDP analysis. The selected model is the candidate trained on the
training part: there is no refit, which would spend again.

Under add-or-remove the number of rows is private. The search reads one
count of the rows, ``public_count`` or a count released with pure DP (2 %
of the smallest ε of the grid), and every candidate's plan reads the
training part's share of it as its public count, and the scores are
divided by the validation part's share: no candidate counts the rows again,
and nothing released is a function of the exact count. The pure ε of the
count adds to the bound.
"""

import math
import secrets
import warnings
from numbers import Integral, Real

import numpy as np
from opacus.accountants.analysis.rdp import get_privacy_spent
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.model_selection import ParameterGrid
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _num_samples, check_is_fitted

from ._base import planned_histories
from .dpsgd import person_index
from .privacy import RDP_ORDERS, RELATIONS, Neighbouring, PublicCount, Unit, default_delta, history_rdp, resolve_count
from .utils._warnings import caller_stacklevel

__all__ = ["PrivateRandomSearch", "selection_rdp", "training_count"]


def training_count(count, validation_fraction):
    """The training part's share of a count of the units (what every candidate's plan reads).

    Examples
    --------
    >>> from sk_privattn.model_selection import training_count
    >>> training_count(1000, 0.2)
    800
    """
    return max(1, round(count * (1 - validation_fraction)))


def selection_rdp(candidate_rdp, mean_n_candidates, orders):
    """RDP of the best of a geometric number of runs (Papernot & Steinke 2022, Thm 2, η = 1).

    Parameters
    ----------
    candidate_rdp : array-like of shape (n_orders,)
        RDP of one run at each order of ``orders``.
    mean_n_candidates : float
        E[K] > 1 of the geometric number of runs.
    orders : array-like of shape (n_orders,)
        RDP orders, all > 1.

    Returns
    -------
    rdp : ndarray of shape (n_orders,)

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn.model_selection import selection_rdp
    >>> orders = np.array([2.0, 8.0, 32.0])
    >>> one_run = orders / 50.0          # a Gaussian mechanism of sigma 5
    >>> bool(np.all(selection_rdp(one_run, 5, orders) > one_run))
    True
    """
    candidate_rdp = np.asarray(candidate_rdp, dtype=float)
    orders = np.asarray(orders, dtype=float)
    log_inv_gamma = math.log(mean_n_candidates)  # γ = 1 / E[K]
    # The second order λ̂ is free: take the best for every λ.
    second = 2 * (1 - 1 / orders) * candidate_rdp + 2 * log_inv_gamma / orders
    if not np.isfinite(second).any():
        return np.full_like(candidate_rdp, np.inf)
    return candidate_rdp + second.min() + math.log(mean_n_candidates) / (orders - 1)


class PrivateRandomSearch(MetaEstimatorMixin, BaseEstimator):
    """Choose hyper-parameters privately: the guarantee covers the search and its choice.

    A random search with a random (geometric) number of candidates, each
    trained with DP-SGD on a training part and scored by a noisy count of
    correct predictions on a validation part; the best noisy score wins.
    Papernot & Steinke, "Hyperparameter Tuning with Renyi Differential
    Privacy", ICLR 2022 (Theorem 2) bound the privacy of the whole search:
    ``epsilon_``. Unlike ``GridSearchCV``, nothing is read from the private
    rows outside the accounted mechanisms.

    Parameters
    ----------
    estimator : DP classifier
        A DP estimator of this package (it must be private: finite ``epsilon``).
    param_grid : dict or list of dicts
        Lists of values, as for ``GridSearchCV``. Each candidate is drawn
        uniformly from this grid; every value must be private, since the
        bound is the worst over the whole grid, drawn or not.
    mean_n_candidates : float, default=5
        Mean of the geometric number of candidates, > 1. More candidates
        cost ``log(mean_n_candidates)``-sized terms of ε.
    validation_fraction : float, default=0.2
        Probability that a row goes to the validation part.
    score_noise : float, default=10.0
        Standard deviation of the Gaussian noise added to each candidate's
        count of correct validation predictions (sensitivity 1).
    delta : float, default=None
        δ of ``epsilon_``; ``None`` uses ``1 / (10 n)`` for a public count
        ``n`` of the rows (``public_count``, or the exact count under
        replace-one), and ``DEFAULT_DELTA`` (1e-5) when the search counts the
        rows with DP (:func:`~sk_privattn.privacy.default_delta`).
    neighbouring : {"add_or_remove", "replace_one"}, default="add_or_remove"
        The relation of ``epsilon_``, and of every candidate (whose own
        ``neighbouring`` must be the same).
    public_count : int or None, default=None
        A public number of rows. ``None``: under add-or-remove, a count
        released with pure DP at 2 % of the smallest ε of the grid; under
        replace-one, the exact count, public by the relation.
    random_state : int, RandomState instance or None, default=None
        The split, the number of candidates, the draws, the score noise, and
        a seed for each candidate (each trains on its own seed, as the
        theorem's independent runs must; it replaces the ``random_state`` of
        ``estimator``). ``None`` draws all of them from the operating
        system's secret entropy, and sets every candidate's
        ``random_state=None``, so that each draws secret seeds of its own. A
        fixed seed makes the search reproducible, and lets whoever knows it
        regenerate the noise. A RandomState instance gives one draw, always
        one, to the search's own generator: how far it advanced would
        otherwise tell the number of candidates.

    Attributes
    ----------
    best_estimator_ : estimator
        The chosen candidate, trained on the training part.
    best_params_ : dict
    best_score_ : float
        The chosen candidate's noisy accuracy on the validation part. The
        number of candidates and the other candidates' scores are not kept:
        the theorem covers the release of the best candidate only, and with
        them the search could cost about ``K`` times more.
    epsilon_ : float
        ε of the whole search, at ``delta_``, under ``neighbouring_``: the
        pure ε of the count plus the RDP bound of the selection.
    delta_ : float
    neighbouring_ : str
    count_ : int
        The count of rows the search read (public, or a DP release).
    count_epsilon_ : float
        The pure ε of that count (0.0 when public).
    privacy_unit_ : {"row", "person"}
        "person" when fitted with ``person_id``.
    classes_ : ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from sk_privattn import DPAttentionClassifier
    >>> from sk_privattn.model_selection import PrivateRandomSearch
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(300, 3))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = DPAttentionClassifier(bounds=(-1, 1), classes=[0, 1], max_epochs=1, d_token=8, n_heads=2,
    ...                             n_layers=1, random_state=0)
    >>> search = PrivateRandomSearch(clf, {"epsilon": [1.0, 2.0]}, mean_n_candidates=2,
    ...                              random_state=0).fit(X, y)
    >>> search.epsilon_ > 2.0     # the search costs more than its best candidate
    True
    """

    _parameter_constraints = {
        "estimator": [object],
        "param_grid": [dict, list],
        "mean_n_candidates": [Interval(Real, 1, None, closed="neither")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "score_noise": [Interval(Real, 0, None, closed="neither")],
        "delta": [Interval(Real, 0, 1, closed="neither"), None],
        "neighbouring": [StrOptions(set(RELATIONS))],
        "public_count": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        mean_n_candidates=5,
        validation_fraction=0.2,
        score_noise=10.0,
        delta=None,
        neighbouring="add_or_remove",
        public_count=None,
        random_state=None,
    ):
        self.estimator = estimator
        self.param_grid = param_grid
        self.mean_n_candidates = mean_n_candidates
        self.validation_fraction = validation_fraction
        self.score_noise = score_noise
        self.delta = delta
        self.neighbouring = neighbouring
        self.public_count = public_count
        self.random_state = random_state

    def _candidates(self, grid):
        """Each point of the grid as an unfitted candidate; raise for one that is not private,
        or whose neighbouring relation is not the search's."""
        candidates = []
        for params in grid:
            candidate = clone(self.estimator).set_params(**params)
            if not math.isfinite(float(candidate.epsilon)):
                raise ValueError(
                    f"The candidate {params} is not private (epsilon=inf); every candidate of "
                    "PrivateRandomSearch must be, since the bound covers the whole grid. Remove it."
                )
            if candidate.get_params().get("neighbouring", self.neighbouring) != self.neighbouring:
                raise ValueError(
                    f"The candidate {params} states neighbouring={candidate.neighbouring!r}, but the search "
                    f"states neighbouring={self.neighbouring!r}; the bound composes one relation. Give the "
                    "estimator and the search the same neighbouring."
                )
            candidates.append(candidate)
        return candidates

    @staticmethod
    def _refuse_partition_selection(candidates, X, y):
        """Raise for a candidate that would release categories or classes with DP on ``X, y``
        (from their schema): the δ of partition selection is not an RDP bound, and the search's
        bound composes a random number of candidates in RDP."""
        for candidate in candidates:
            _, n_categorical, n_labels = candidate._metadata_needs(X, y)
            if n_categorical + n_labels:
                raise ValueError(
                    f"{type(candidate).__name__} in PrivateRandomSearch would release its categories or classes "
                    "with DP (categories=None or classes=None), by partition selection, whose δ the search's "
                    "bound (Rényi DP over a random number of candidates) cannot compose. Pass public categories "
                    "and classes to the estimator (or 'data', read from the rows with a PrivacyLeakWarning)."
                )

    def _candidate_rdp(self, candidates, train_count, orders, X=None, y=None):
        """The worst RDP, over the candidates, of one run: train on a part counted ``train_count``, or score."""
        worst = orders / (2 * self.score_noise**2)
        for candidate in candidates:
            for history in planned_histories(candidate, train_count, X, y):
                worst = np.maximum(worst, history_rdp(history, orders, relation=self.neighbouring))
        return worst

    def fit(self, X, y, person_id=None):
        """Run the private search on ``X, y``.

        Everything it prints, warns and raises is the same whatever the number
        of candidates: the candidates train silently (``verbose=0``); with the
        estimator's ``verbose``, the search prints one line when it starts and
        one when it ends; and the warnings are those of every point of the
        grid, each once, raised before any candidate trains (the candidates'
        own are not shown). How long it takes grows with the number of
        candidates: see docs/reporting.md.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        person_id : array-like of shape (n_samples,), default=None
            The person of each row, for a person-level search: each person
            goes to the training or the validation part by one coin, every
            candidate is fitted with ``person_id``, and a person's validation
            score is the share of their rows predicted right (at most 1), so
            that the bound protects a person.

        Returns
        -------
        self : object
        """
        self._validate_params()
        # Each stream of randomness from its own draw: the split consumes one draw per unit, and
        # must not shift what the candidates draw (their number, parameters, seeds, scores).
        count_seed, split_seed, selection_seed = self._generator().randint(np.iinfo(np.int32).max, size=3)
        grid = list(ParameterGrid(self.param_grid))
        candidates = self._candidates(grid)
        self._refuse_partition_selection(candidates, X, y)
        n_samples = _num_samples(X)
        persons = None if person_id is None else person_index(person_id, n_samples)
        unit = Unit.ROW if persons is None else Unit.PERSON
        n_units = n_samples if persons is None else persons.n_persons
        # One count of the units, public or DP, for the whole search: the candidates' plans
        # and the scores' divisor read shares of it, never the exact sizes of the parts.
        smallest_epsilon = min(float(candidate.epsilon) for candidate in candidates)
        count = resolve_count(n_units, neighbouring=Neighbouring(self.neighbouring, unit),
                              public_count=self.public_count, epsilon=smallest_epsilon, seed=int(count_seed))
        train_count = training_count(count.value, self.validation_fraction)
        validation_count = max(1.0, count.value * self.validation_fraction)
        unit_in_validation = np.random.RandomState(split_seed).uniform(size=n_units) < self.validation_fraction
        in_validation = unit_in_validation if persons is None else unit_in_validation[persons.person_of_row]
        train, validation = np.flatnonzero(~in_validation), np.flatnonzero(in_validation)
        # The bound is fixed before any candidate is trained: it reads the count only.
        self.neighbouring_ = self.neighbouring
        self.privacy_unit_ = unit.value
        self.count_ = count.value
        self.count_epsilon_ = count.epsilon
        self.epsilon_, self.delta_ = self._bound(candidates, count, X, y)

        X_train, y_train = _safe_indexing(X, train), _safe_indexing(y, train)
        X_val, y_val = _safe_indexing(X, validation), np.asarray(_safe_indexing(y, validation))
        fit_params = {} if persons is None else {"person_id": np.asarray(person_id)[train]}
        for category, message in self._grid_warnings(grid, X_train, y_train, train_count, fit_params):
            warnings.warn(message, category, stacklevel=caller_stacklevel())
        # Each validation unit's share of rows predicted right: 1 per row, at most 1 per person.
        if persons is None:
            unit_of_validation_row = np.arange(len(validation))
        else:
            _, unit_of_validation_row = np.unique(persons.person_of_row[validation], return_inverse=True)
        rows_per_unit = np.bincount(unit_of_validation_row, minlength=1)
        self._say(f"training a random number of candidates (mean {self.mean_n_candidates:g}) on the training "
                  f"part; the whole search spends ε = {self.epsilon_:.4g} (δ = {self.delta_:.3g}).")
        # The number of candidates and every score but the best stay local:
        # the theorem covers the release of the best candidate only.
        rng = np.random.RandomState(selection_seed)
        n_candidates = int(rng.geometric(1.0 / self.mean_n_candidates))
        best_score = -math.inf
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # shown once above, for the whole grid
            for _ in range(n_candidates):
                params = grid[rng.randint(len(grid))]
                candidate = self._candidate(params, train_count, **self._candidate_seed(rng))
                candidate.fit(X_train, y_train, **fit_params)
                right = (candidate.predict(X_val) == y_val).astype(float)
                correct = float(np.sum(np.bincount(unit_of_validation_row, weights=right, minlength=1)
                                       / np.maximum(rows_per_unit, 1)))
                # Divided by the validation part's share of the count, not by its exact size.
                noisy = (correct + rng.normal(0.0, self.score_noise)) / validation_count
                if noisy > best_score:
                    best_score, self.best_estimator_, self.best_params_ = noisy, candidate, params
        self.best_score_ = best_score
        self.classes_ = self.best_estimator_.classes_
        self._say("done: best_estimator_ is the chosen candidate.")
        return self

    def _candidate(self, params, train_count, **seed):
        """The unfitted candidate of the grid point ``params``: silent, under the search's relation,
        its plan reading the training part's share ``train_count`` of the search's count."""
        candidate = clone(self.estimator).set_params(**params, **seed, neighbouring=self.neighbouring,
                                                     public_count=train_count)
        if "verbose" in candidate.get_params():
            candidate.set_params(verbose=0)
        return candidate

    def _grid_warnings(self, grid, X_train, y_train, train_count, fit_params):
        """Every distinct (category, message) that preparing the candidates of every point of
        ``grid`` raises (their plans, and the encoding of the training part), in order.

        Each candidate is planned and prepared as its fit would (``_plan_call``, then
        ``_prepare_call``), without training it: no ledger or budget is touched, nothing is
        spent. These are the warnings whatever the number of candidates drawn, since they are
        those of the whole grid.
        """
        seen = {}
        for params in grid:
            candidate = self._candidate(params, train_count)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                call = candidate._plan_call(X_train, y_train, **fit_params)
                with candidate._seeded_torch(call.module_seed):
                    candidate._prepare_call(call, X_train, y_train)
            for record in caught:
                seen.setdefault((record.category, str(record.message)), None)
        return list(seen)

    def _say(self, message):
        """Print ``message`` when the estimator's ``verbose`` asks for progress."""
        if self.estimator.get_params().get("verbose", 0):
            print(f"PrivateRandomSearch: {message}", flush=True)

    def _bound(self, candidates, count, X=None, y=None):
        """(ε, δ) of the whole search over ``candidates`` on units counted by ``count``
        (a :class:`~sk_privattn.privacy.PublicCount` or a DP count): the pure ε of the
        count plus the selection's RDP bound, at ``delta`` (or the default δ of ``count``)."""
        orders = np.asarray(RDP_ORDERS, dtype=float)
        train_count = training_count(count.value, self.validation_fraction)
        rdp = selection_rdp(self._candidate_rdp(candidates, train_count, orders, X, y), self.mean_n_candidates, orders)
        delta = self.delta if self.delta is not None else default_delta(count)
        selection = float(get_privacy_spent(orders=list(orders), rdp=list(rdp), delta=delta)[0])
        return count.epsilon + selection, delta

    def planned_epsilon(self, public_count=None, X=None, y=None):
        """The ``epsilon_`` that :meth:`fit` will report, from the parameters alone.

        The bound of the search reads the grid and a count of the rows only,
        so with a public count it is known before any data are read: a data
        owner can check it against a budget first (:mod:`sk_privattn.remote`).

        Parameters
        ----------
        public_count : int, default=None
            The public number of rows; ``None`` uses the search's
            ``public_count``, which must then be set.
        X, y : array-like or DataFrame, default=None
            Data of the schema that :meth:`fit` will get (only the schema is
            read): needed when the estimator releases metadata with DP
            (bounds, categories or classes left ``None``), which the bound
            composes, and whether it does depends on the columns.

        Returns
        -------
        epsilon : float

        Raises
        ------
        ValueError
            Without a public count: under add-or-remove the search counts the
            rows with DP, and its bound depends on that count.

        Examples
        --------
        >>> from sk_privattn import DPAttentionClassifier
        >>> from sk_privattn.model_selection import PrivateRandomSearch
        >>> clf = DPAttentionClassifier(bounds=(-1, 1), categories={}, classes=[0, 1], max_epochs=1)
        >>> search = PrivateRandomSearch(clf, {"epsilon": [0.5, 1.0]}, mean_n_candidates=2, delta=1e-5)
        >>> round(search.planned_epsilon(public_count=300), 2)
        2.69
        """
        self._validate_params()
        counted = public_count if public_count is not None else self.public_count
        if counted is None:
            raise ValueError(
                "planned_epsilon needs a public count of the rows: pass public_count (or set the search's "
                "public_count). Without one, fit counts the rows with DP and its bound depends on that count."
            )
        candidates = self._candidates(list(ParameterGrid(self.param_grid)))
        if X is not None:
            self._refuse_partition_selection(candidates, X, y)
        return self._bound(candidates, PublicCount(int(counted), "given"), X, y)[0]

    def _generator(self):
        """The search's own generator: from the operating system's secret entropy for
        ``random_state=None``, else from one draw of ``random_state``."""
        if self.random_state is None:
            return np.random.RandomState(secrets.randbits(32))
        return np.random.RandomState(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _candidate_seed(self, rng):
        """Independent runs, as the theorem needs: each candidate its own seed.

        With ``random_state=None`` every candidate gets ``random_state=None``
        and draws secret seeds of its own (a seed drawn here would be kept in
        ``best_estimator_``'s parameters, and with it anyone could regenerate
        its noise); otherwise each gets a seed drawn from the search's
        generator.
        """
        if "random_state" not in self.estimator.get_params():
            return {}
        if self.random_state is None:
            return {"random_state": None}
        return {"random_state": int(rng.randint(np.iinfo(np.int32).max))}

    def predict(self, X):
        """Predict with ``best_estimator_``."""
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    def predict_proba(self, X):
        """Class probabilities of ``best_estimator_``."""
        check_is_fitted(self)
        return self.best_estimator_.predict_proba(X)

    def score(self, X, y):
        """Accuracy of ``best_estimator_`` on ``X, y``."""
        check_is_fitted(self)
        return self.best_estimator_.score(X, y)
