"""The training plan of a DP fit: the one source of the count, the batch size,
the steps, the sample rate, the noise and δ.

Everything that needs one of these numbers (the training loop and its
Poisson sampler, the accountant, the ledger, the budget, private model
selection, each site of a federation) reads them from a :class:`TrainingPlan`
made by :func:`plan_training`, never recomputes them. The plan reads the
parameters and a *count* of the rows that is public or released with DP
(:mod:`._count`), never the exact number of rows: under add-or-remove that
number is what two neighbouring data sets differ in.

:class:`Plan` is what every consumer of a plan reads (the fit path, the
training routine, the ledgers and budgets); :class:`TrainingPlan` is the plan
of one DP-SGD run, and a federation's plan
(:class:`~sk_privattn.federated._plan.FederatedPlan`) declares the same
interface over its sites.
"""

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

from ._calibration import calibrate_noise_multiplier, compute_epsilon, default_delta
from ._count import PublicCount
from ._terms import Neighbouring, Relation
from .accountants import resolve_accountant

__all__ = ["Plan", "TrainingPlan", "plan_training", "resolve_batch_size", "resolve_epochs"]

#: Largest batch that ``batch_size="auto"`` picks, and the steps per epoch it aims at.
MAX_AUTO_BATCH_SIZE = 1024
AUTO_STEPS_PER_EPOCH = 32
#: Steps that ``max_epochs="auto"`` aims at, and the most epochs it takes.
AUTO_STEPS = 800
MAX_AUTO_EPOCHS = 50
#: The most rows (or persons) that an "auto" plan processes, epochs times the count: above it,
#: ``max_epochs="auto"`` takes less than one epoch, so that a fit's cost stops growing with n.
AUTO_MAX_ROWS = 2_000_000


def resolve_batch_size(batch_size, n_samples):
    """``batch_size``, or for "auto" ``n / 32`` rows, at least ``sqrt(n)``, at most 1024.

    With "auto" an epoch is 32 steps from about 1,000 rows up to about
    33,000 (32 rows on 1,000, 94 on 3,000, 1,018 on 32,561), fewer below
    (``sqrt(n)`` rows a step), and more above, at batches of 1,024. Only
    ``n_samples``, the plan's count, enters it.
    """
    if batch_size == "auto":
        by_steps = math.ceil(n_samples / AUTO_STEPS_PER_EPOCH)
        return int(min(MAX_AUTO_BATCH_SIZE, max(1, round(math.sqrt(n_samples)), by_steps)))
    return int(batch_size)


def resolve_epochs(max_epochs, steps_per_epoch, n_samples):
    """``max_epochs``, or for "auto" about ``AUTO_STEPS`` steps, within limits; a fraction of
    an epoch above ``AUTO_MAX_ROWS``.

    At least 1 epoch and at most ``MAX_AUTO_EPOCHS`` up to ``AUTO_MAX_ROWS``
    (2,000,000) rows. Small data get many epochs, so that DP-SGD takes enough
    steps to learn rather than to stay at the prior (a constant predictor): 25
    on 1,000 rows, and on the 32,561 rows of Adult. Above about 33,000 rows the
    batch is 1,024 rows, so the fit processes about 800,000 rows: 4 epochs on
    200,000 rows, 1 from about 550,000 up to 2,000,000. Above that the fit
    processes ``AUTO_MAX_ROWS`` rows whatever n, ``AUTO_MAX_ROWS / n`` of an
    epoch (0.2 on 10,000,000 rows), so that its cost stops growing with n.
    Only the plan's count enters it.

    Returns
    -------
    int, or a float below 1 (the share of an epoch that "auto" takes above ``AUTO_MAX_ROWS``)
    """
    if max_epochs != "auto":
        return int(max_epochs)
    if n_samples > AUTO_MAX_ROWS:
        return AUTO_MAX_ROWS / n_samples
    return int(min(MAX_AUTO_EPOCHS, max(1, round(AUTO_STEPS / steps_per_epoch))))


class Plan(ABC):
    """What a fit will run, as everything downstream of the plan reads it.

    The fit path reads the count and the relation, the released mechanism
    (``noise_multiplier``, ``sample_rate``, ``batch_size``, :meth:`history`,
    :meth:`epsilon`) and ``delta``; the ledgers and budgets read
    :meth:`row_histories` and :attr:`group_of_row`, since rows may pay different
    mechanisms (the sites of a federation). The attributes are listed here;
    each plan provides them as fields or properties.

    Attributes
    ----------
    n_samples : int
        The count the plan is made for (public, or DP).
    count : PublicCount or DPCount
    count_epsilon : float
        Pure ε of the DP counts that the plan's ε includes.
    neighbouring : Neighbouring
    delta : float
    accountant : str
    noise_multiplier, sample_rate : float
        Of the released mechanism.
    batch_size : int or float
    prior_history : tuple
        Mechanisms of earlier calls that the plan's ε composes with.
    """

    #: What the call releases before it trains (its DP metadata), as an accountant history.
    release_history = ()
    #: The δ that partition selection adds outside the accountant (``delta`` includes it).
    partition_delta = 0.0

    @property
    def relation(self):
        """The neighbouring relation's name."""
        return self.neighbouring.relation

    @property
    def private(self):
        """Whether the plan adds noise."""
        return self.noise_multiplier > 0

    @abstractmethod
    def history(self, steps=None):
        """The released mechanism after ``steps`` steps (or rounds), as an accountant history."""

    @abstractmethod
    def epsilon(self, steps=None):
        """ε spent after ``steps`` steps (all by default), composed with ``prior_history``."""

    @abstractmethod
    def row_histories(self, steps=None):
        """One history per group of rows (what each group paid), for a privacy ledger."""

    @property
    @abstractmethod
    def group_of_row(self):
        """The group of each row in :meth:`row_histories`, or ``None`` for one group."""

    @abstractmethod
    def noise_to_signal(self, n_parameters):
        """How much the plan's noise outweighs the largest signal (see :meth:`TrainingPlan.noise_to_signal`)."""

    def fitted_attributes(self):
        """The fitted attributes that this kind of plan adds to the estimator, by name
        (besides those every plan gives: ``count_``, ``delta_``, ``noise_multiplier_``, ...)."""
        return {}


@dataclass(frozen=True)
class TrainingPlan(Plan):
    """What a DP fit will run: ``epochs`` epochs of ``steps_per_epoch`` steps.

    At each step every row joins the batch independently with probability
    ``sample_rate`` (Poisson sampling), the clipped gradients are summed and
    Gaussian noise of standard deviation ``noise_multiplier * max_grad_norm``
    is added. The sample rate is exactly ``1 / ceil(n_samples / batch_size)``,
    so that an epoch of that many steps sees each row once in expectation, and
    the sampler runs exactly ``steps_per_epoch`` steps an epoch: what the
    accountant composes is what runs. An "auto" plan above ``AUTO_MAX_ROWS``
    rows takes less than one pass over the data: one epoch of fewer steps
    (:func:`resolve_epochs`).

    Attributes
    ----------
    n_samples : int
        The count the plan is made for: public, or the DP count (at least
        ``MIN_DP_COUNT`` then), never read from the rows directly.
    batch_size : int
        Expected batch size asked for; the expected size of a Poisson batch
        is ``n_samples * sample_rate``.
    steps_per_epoch : int
        ``ceil(n_samples / batch_size)``, a pass over the rows; fewer in the one
        epoch of a plan that takes less than a pass.
    sample_rate : float
        ``1 / ceil(n_samples / batch_size)``.
    epochs : int
    noise_multiplier : float
        0.0 for a plan without privacy (ε = inf).
    delta : float
    accountant : str
        A registered accountant's name (never "auto").
    prior_history : tuple of (noise_multiplier, sample_rate, steps)
        Mechanisms that earlier calls ran on the same rows (a warm start),
        which the ε of this plan composes with.
    neighbouring : Neighbouring
        The relation that the plan's ε is for.
    count : PublicCount or DPCount
        Where ``n_samples`` comes from.
    count_epsilon : float
        Pure ε of the DP counts of this call and of the earlier calls of a
        warm start (0.0 with public counts): it adds to what the accountant
        composes.
    release_history : tuple of (noise_multiplier, sample_rate, steps)
        What this call releases before it trains (its DP metadata: one
        Gaussian mechanism, see :mod:`sk_privattn.privacy._metadata`), which
        the accountant composes with the steps.
    partition_delta : float
        The δ that partition selection (DP categories and classes) adds outside
        the accountant; ``delta`` includes it, and the accountant composes at
        ``delta - partition_delta`` (:attr:`accountant_delta`).
    """

    n_samples: int
    batch_size: int
    steps_per_epoch: int
    sample_rate: float
    epochs: int
    noise_multiplier: float
    delta: float
    accountant: str
    prior_history: tuple = ()
    neighbouring: Neighbouring = Neighbouring(Relation.ADD_OR_REMOVE)
    count: object = None
    count_epsilon: float = 0.0
    release_history: tuple = ()
    partition_delta: float = 0.0

    @property
    def accountant_delta(self):
        """The δ at which the accountant composes: ``delta`` less what partition selection adds."""
        return self.delta - self.partition_delta

    @property
    def n_steps(self):
        """Optimizer steps of the whole plan."""
        return self.steps_per_epoch * self.epochs

    def history(self, steps=None):
        """This plan's mechanism after ``steps`` steps (all of them by default), as
        Opacus' accountant history: ``[(noise_multiplier, sample_rate, steps)]``."""
        steps = self.n_steps if steps is None else int(steps)
        return [(self.noise_multiplier, self.sample_rate, steps)]

    def row_histories(self, steps=None):
        """What each group of rows pays, for a privacy ledger: here one group, every row,
        paying this call's releases and :meth:`history`."""
        return [[*self.release_history, *self.history(steps)]]

    @property
    def group_of_row(self):
        """The group of each row in :meth:`row_histories`: ``None``, all rows in one."""
        return None

    def epsilon(self, steps=None):
        """ε spent after ``steps`` steps of this plan, composed with ``prior_history`` and this
        call's releases, plus ``count_epsilon``: for the plan's neighbouring relation, at
        :attr:`accountant_delta`."""
        if not self.private:
            return math.inf
        composed = compute_epsilon([*self.prior_history, *self.release_history, *self.history(steps)],
                                   self.accountant_delta, self.accountant, self.relation)
        return self.count_epsilon + composed

    @property
    def expected_batch_size(self):
        """``n_samples * sample_rate``: the mean size of a Poisson batch."""
        return self.n_samples * self.sample_rate

    def noise_to_signal(self, n_parameters):
        """How much the noise outweighs the largest signal in the average of all updates.

        Each step adds Gaussian noise of norm about
        ``noise_multiplier * max_grad_norm * sqrt(n_parameters)`` to a sum of
        ``expected_batch_size`` clipped gradients, each of norm at most
        ``max_grad_norm``. Averaged over ``n_steps`` steps, noise and signal
        compare as ``noise_multiplier * sqrt(n_parameters) /
        (expected_batch_size * sqrt(n_steps))``. Above 1 the noise drowns even
        gradients that all point the same way. For a fixed ε it scales as
        ``sqrt(n_parameters) / (epsilon * n_samples)``: more rows, a larger ε
        or a smaller model lower it; batch size and epochs barely do. All of
        it is public (the parameters and the plan's count); 0.0 without
        privacy.
        """
        if not self.private:
            return 0.0
        return self.noise_multiplier * math.sqrt(n_parameters) / (self.expected_batch_size * math.sqrt(self.n_steps))

    def fitted_attributes(self):
        """``max_epochs_``: the epochs of the plan (``max_epochs``, or its "auto" value)."""
        return {"max_epochs_": self.epochs}

    def with_epochs(self, epochs):
        """The same mechanism for ``epochs`` epochs: one round of a site that
        was calibrated over all its rounds."""
        return replace(self, epochs=int(epochs))


def plan_training(
    count,
    *,
    epsilon,
    delta,
    batch_size,
    epochs,
    accountant,
    neighbouring=Neighbouring(Relation.ADD_OR_REMOVE),
    prior_history=(),
    prior_count_epsilon=0.0,
    noise_multiplier=None,
    release_history=(),
    partition_share=0.0,
):
    """The plan of a DP fit whose count of rows is ``count``.

    Parameters
    ----------
    count : PublicCount, DPCount or int
        The count the plan reads (see :func:`~sk_privattn.privacy.resolve_count`);
        an int is a public count. At least 1.
    epsilon : float
        ε that the plan may spend in all: its DP count, ``prior_history``,
        ``prior_count_epsilon`` and its own steps; ``inf`` for a plan without
        clipping or noise.
    delta : float or None
        ``None`` uses :func:`~sk_privattn.privacy.default_delta` of ``count``:
        ``1 / (10 n)`` for a public count ``n``, ``DEFAULT_DELTA`` for a DP count.
    batch_size : int or "auto"
        See :func:`resolve_batch_size`.
    epochs : int or "auto"
        See :func:`resolve_epochs`.
    accountant : str
        "auto" or a registered accountant; resolved for ``neighbouring`` (:func:`~sk_privattn.privacy.resolve_accountant`).
    neighbouring : Neighbouring, default=Neighbouring("add_or_remove")
    prior_history : sequence of (noise_multiplier, sample_rate, steps), default=()
    prior_count_epsilon : float, default=0.0
        Pure ε of the DP counts of earlier calls (a warm start).
    noise_multiplier : float, default=None
        Skip the calibration and use this noise (a caller that calibrated it
        already); ``epsilon`` must then be finite.
    release_history : sequence of (noise_multiplier, sample_rate, steps), default=()
        What the call releases before it trains (its DP metadata), composed
        with the steps: the noise is calibrated so that all of it meets ``epsilon``.
    partition_share : float, default=0.0
        The share of ``delta`` that partition selection (DP categories and
        classes) takes, outside the accountant (``TrainingPlan.partition_delta``).

    Returns
    -------
    TrainingPlan

    Examples
    --------
    >>> from sk_privattn.privacy import plan_training
    >>> plan = plan_training(930, epsilon=1.0, delta=1e-4, batch_size=10, epochs=1, accountant="prv")
    >>> plan.steps_per_epoch, plan.sample_rate == 1 / 93, plan.n_steps
    (93, True, 93)
    >>> plan.epsilon() <= 1.0
    True
    """
    if not hasattr(count, "private"):
        count = PublicCount(int(count), "given")
    n_samples = int(count.value)
    if n_samples < 1:
        raise ValueError(f"Found {n_samples} sample(s), while a DP fit needs a minimum of 1.")
    accountant = resolve_accountant(accountant, neighbouring.relation)
    batch_size = resolve_batch_size(batch_size, n_samples)
    steps_per_epoch = math.ceil(n_samples / batch_size)
    epochs = resolve_epochs(epochs, steps_per_epoch, n_samples)
    sample_rate = 1.0 / steps_per_epoch
    if epochs < 1:  # less than one pass over the units: one "epoch" of that share of a pass's steps
        steps_per_epoch, epochs = max(1, round(steps_per_epoch * epochs)), 1
    delta = float(delta) if delta is not None else default_delta(count)
    prior_history = tuple(tuple(entry) for entry in prior_history)
    release_history = tuple(tuple(entry) for entry in release_history)
    count_epsilon = float(prior_count_epsilon) + count.epsilon
    if not 0.0 <= partition_share < 1.0:
        raise ValueError(f"partition_share={partition_share!r}; use a share of delta in [0, 1).")
    partition_delta = partition_share * delta
    if not math.isfinite(epsilon):
        noise_multiplier = 0.0
    elif noise_multiplier is None:
        _check_left_for_training(epsilon, count_epsilon, [*prior_history, *release_history],
                                 delta - partition_delta, accountant, neighbouring.relation)
        noise_multiplier = calibrate_noise_multiplier(
            epsilon=float(epsilon) - count_epsilon,
            delta=delta - partition_delta,
            sample_rate=sample_rate,
            steps=steps_per_epoch * int(epochs),
            accountant=accountant,
            prior_history=(*prior_history, *release_history),
            relation=neighbouring.relation,
        )
    return TrainingPlan(
        n_samples=n_samples,
        batch_size=batch_size,
        steps_per_epoch=steps_per_epoch,
        sample_rate=sample_rate,
        epochs=int(epochs),
        noise_multiplier=float(noise_multiplier),
        delta=delta,
        accountant=accountant,
        prior_history=prior_history,
        neighbouring=neighbouring,
        count=count,
        count_epsilon=count_epsilon,
        release_history=release_history,
        partition_delta=float(partition_delta),
    )


def _check_left_for_training(epsilon, count_epsilon, released, delta, accountant, relation):
    """Raise unless the DP counts and the releases before training (``released``) leave some ε for it."""
    if count_epsilon >= epsilon:
        raise ValueError(
            f"epsilon={epsilon} leaves nothing for training once the DP counts of the rows have "
            f"spent ε={count_epsilon:.4g}; raise epsilon, or pass public_count."
        )
    spent = count_epsilon + compute_epsilon(released, delta, accountant, relation)
    if spent >= epsilon:
        raise ValueError(
            f"epsilon={epsilon} leaves nothing for training once the DP counts and the DP metadata (bounds, "
            f"categories or classes) have spent ε={spent:.4g}; raise epsilon or metadata_noise_multiplier, "
            "or pass the metadata that is public (bounds, categories, classes)."
        )
