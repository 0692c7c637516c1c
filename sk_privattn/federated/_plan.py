"""The plan of a federated fit: each site's DP-SGD, or the server's client-level mechanism.

Everything here reads the parameters, the number of sites and a count of the
rows of each site (public, or released by the site with DP), never a row. The
two privacy levels and the neighbouring relation that each ε covers:

- **record level**: each site runs DP-SGD on its own rows by its own
  :class:`~sk_privattn.privacy.TrainingPlan`, calibrated once over all rounds.
  ε covers, under ``neighbouring``, adding or removing one row of one site
  (the default), or replacing one, at that site's δ. Under add-or-remove a
  site's number of rows is private, as ``n`` is for the central
  estimators: each site's plan reads ``public_count[site]`` or a DP count
  that the site releases of its own rows (2 % of ``epsilon``, pure DP),
  and FedAvg weighs each site by that count, never by its exact size.
  Under replace-one the sizes are public by the relation.
- **client level** (DP-FedAvg, McMahan et al. 2018): ε covers *zeroing out one
  site* (``neighbouring="add_or_remove"``): two federations of the same ``N``
  sites are neighbours when one site's data is replaced by data that
  contributes nothing (Kairouz et al. 2021); or replacing one site's data by
  any other (``"replace_one"``, accounted by dp_accounting). The roster of
  sites, hence ``N``, is public by construction: the server knows whom it
  asks to train. Every round each site
  joins independently with probability ``fraction_fit`` (Poisson sampling,
  drawn by the site itself), its update is clipped to ``clipping_norm``, and
  the server adds Gaussian noise of standard deviation ``noise_multiplier *
  clipping_norm`` to the *sum* of the updates, which it divides by the fixed,
  public ``fraction_fit * N`` (the expected number of sampled sites). That is
  exactly the Poisson-subsampled Gaussian mechanism of sensitivity
  ``clipping_norm`` that Opacus' accountant composes over ``n_rounds``.
"""

import functools
import math
from dataclasses import dataclass

import numpy as np
from sklearn.utils.validation import column_or_1d

from ..privacy import (
    Neighbouring,
    Plan,
    PublicCount,
    Relation,
    Unit,
    calibrate_noise_multiplier,
    compute_epsilon,
    count_source,
    default_delta,
    plan_training,
    resolve_accountant,
    resolve_count,
)

__all__ = ["ClientLevelPlan", "FederatedPlan", "client_level_plan", "plan_federation", "site_plan"]

#: Flower's SecAgg+ needs at least two sites in a round.
MIN_SECURE_SITES = 2


def federation_seeds(train_seed):
    """The base seed of the sites' coins, counts and training, and the seed of the server's
    noise, from the fit's training seed: the same in a simulation and in a deployment."""
    site_seed, noise_seed = np.random.SeedSequence(train_seed).generate_state(2)
    return int(site_seed >> 1), int(noise_seed >> 1)


def site_count_seed(site_seed, site_index):
    """The seed of the DP count of site ``site_index`` (its position among the sites, its
    partition id in a deployment), from the base seed of the sites."""
    return int(np.random.SeedSequence([int(site_seed), int(site_index)]).generate_state(1)[0] >> 1)


def site_count(estimator, name, n_rows, seed):
    """The count of a site's ``n_rows`` rows that its plan reads: ``public_count[name]``, the
    exact count where it is public (replace-one, client level, or ε = inf), or a DP count that
    the site releases with ``seed``."""
    private = estimator.dp_level == "record" and math.isfinite(estimator.epsilon)
    public = None
    if estimator.public_count is not None:
        if name not in estimator.public_count:
            raise ValueError(
                f"public_count has no count for the site {name!r} (a value of groups); give a public "
                f"count for every site, e.g. public_count={{{name!r}: 1000, ...}}, or public_count=None."
            )
        public = estimator.public_count[name]
    return resolve_count(n_rows, neighbouring=estimator._neighbouring, public_count=public,
                         epsilon=float(estimator.epsilon) if private else math.inf, seed=seed)


def site_plan(estimator, name, n_rows, seed):
    """The DP-SGD plan of a site with ``n_rows`` rows over the whole federation.

    The plan reads the site's count (:func:`site_count`), not ``n_rows``.
    Record level: the noise is calibrated once, so that the site's DP count
    and all ``n_rounds`` rounds of ``local_epochs`` epochs compose to
    ``epsilon`` at the site's δ (``delta``, or the default δ of its count:
    ``1 / (10 n)`` for a public count ``n``, ``DEFAULT_DELTA`` for a DP
    count); each round trains ``plan.with_epochs(local_epochs)``. Client level
    (or ``epsilon=inf``): local training without noise.
    """
    private = estimator.dp_level == "record" and math.isfinite(estimator.epsilon)
    plan = plan_training(
        site_count(estimator, name, n_rows, seed),
        epsilon=float(estimator.epsilon) if private else math.inf,
        delta=estimator.delta,
        batch_size=estimator.batch_size,
        epochs=estimator.local_epochs * estimator.n_rounds,
        accountant=estimator.accountant,
        neighbouring=estimator._neighbouring,
    )
    # Record level: checked against the site's count (public, or its DP count). Client level: a
    # batch larger than the site takes the whole site at each step (a sample rate of 1), since
    # the site's exact size is part of what client-level DP protects.
    if estimator.dp_level == "record" and estimator.batch_size != "auto" and plan.batch_size > plan.n_samples:
        raise ValueError(
            f"Site {name!r} (a value of groups) counts {plan.n_samples} rows ({count_source(plan.count)}), fewer "
            f"than batch_size={plan.batch_size}. Lower batch_size (or use batch_size='auto'), or merge this "
            "site with another."
        )
    return plan


@dataclass(frozen=True)
class ClientLevelPlan:
    """The server's mechanism under client-level DP, one step per round.

    Attributes
    ----------
    n_sites : int
        ``N``, public.
    sample_rate : float
        Probability that a site joins a round (``fraction_fit``).
    n_rounds : int
    noise_multiplier : float
        0.0 for ``epsilon=inf``.
    delta : float
    accountant : str
    neighbouring : Neighbouring
        Its unit is the site.
    """

    n_sites: int
    sample_rate: float
    n_rounds: int
    noise_multiplier: float
    delta: float
    accountant: str
    neighbouring: Neighbouring = Neighbouring(Relation.ADD_OR_REMOVE, Unit.SITE)

    @property
    def denominator(self):
        """The fixed divisor of the noisy sum: the expected number of sampled sites."""
        return self.sample_rate * self.n_sites

    def history(self, rounds=None):
        """The mechanism that ε composes: ``[(noise_multiplier, sample_rate, rounds)]``."""
        return [(self.noise_multiplier, self.sample_rate, self.n_rounds if rounds is None else int(rounds))]

    def row_history(self, rounds=None):
        """What any one *row* of a site paid, for a privacy ledger.

        Adding, removing or replacing a row moves its site's clipped update
        anywhere in the ball of radius ``clipping_norm``: the sum moves by up
        to twice the clipping norm. Without crediting the sampling of sites,
        that is a Gaussian mechanism of sensitivity twice the clipping norm
        each round, an upper bound: noise multiplier ``noise_multiplier / 2``
        at sensitivity one (add-or-remove), or ``noise_multiplier`` under
        replace-one, whose accountant reads a replaced element as moving the
        sum by twice the bound already.
        """
        noise = self.noise_multiplier / 2 if self.neighbouring.relation is Relation.ADD_OR_REMOVE else self.noise_multiplier
        return [(noise, 1.0, self.n_rounds if rounds is None else int(rounds))]

    def epsilon(self, rounds=None):
        if self.noise_multiplier == 0:
            return math.inf
        return compute_epsilon(self.history(rounds), self.delta, self.accountant, self.neighbouring.relation)

    # What the fit path and the ledgers read of a plan.
    count_epsilon = 0.0

    @property
    def count(self):
        """The roster of sites, public by construction."""
        return PublicCount(self.n_sites, "roster")


def client_level_plan(estimator, n_sites):
    """The :class:`ClientLevelPlan` of ``estimator`` over ``n_sites`` sites, calibrated to ``epsilon``."""
    neighbouring = Neighbouring(estimator.neighbouring, Unit.SITE)
    accountant = resolve_accountant(estimator.accountant, neighbouring.relation)
    # The roster of sites is public: its δ is 1 / (10 n_sites).
    roster = PublicCount(int(n_sites), "roster")
    delta = float(estimator.delta) if estimator.delta is not None else default_delta(roster)
    noise = 0.0
    if math.isfinite(estimator.epsilon):
        noise = calibrate_noise_multiplier(
            epsilon=float(estimator.epsilon),
            delta=delta,
            sample_rate=float(estimator.fraction_fit),
            steps=estimator.n_rounds,
            accountant=accountant,
            relation=neighbouring.relation,
        )
    return ClientLevelPlan(int(n_sites), float(estimator.fraction_fit), estimator.n_rounds, noise, delta,
                           accountant, neighbouring)


@functools.lru_cache(maxsize=256)
def _site_epsilon(plan):
    # Sites of the same size run the same plan: account it once.
    return plan.epsilon()


@dataclass(frozen=True, eq=False)
class FederatedPlan(Plan):
    """The plan of a federated fit, with what the fit path and the ledgers read.

    The estimator's ``epsilon_``, ``noise_multiplier_``, ``sample_rate_``,
    ``n_steps_``, ``batch_size_`` and ``accountant_history_`` describe the
    *released* mechanism: at record level the site whose ε is largest, at
    client level the server's (``batch_size_`` is then the fixed denominator,
    the expected number of sampled sites). ``delta`` is the largest δ used.

    Attributes
    ----------
    dp_level : {"record", "client"}
    n_rounds : int
    local_epochs : int
    site_names : tuple
    site_plans : tuple of TrainingPlan
        Each site's plan over all rounds (without noise at client level).
    server : ClientLevelPlan or None
        Client level only.
    site_of_row : ndarray of int or None
        The site of each training row (in a simulation; ``None`` in a
        deployment, whose server sees no row).
    """

    dp_level: str
    n_rounds: int
    local_epochs: int
    site_names: tuple
    site_plans: tuple
    server: ClientLevelPlan = None
    site_of_row: np.ndarray = None

    # -- what the fit path reads -------------------------------------------

    @property
    def released(self):
        """The plan that the estimator's attributes describe (see the class docstring)."""
        if self.server is not None:
            return self.server
        return max(self.site_plans, key=_site_epsilon)

    @property
    def n_samples(self):
        """The count that ledgers and reports show: at record level the sum of the sites'
        counts (each public or DP); at client level the public roster of sites, the unit of
        its guarantee (the sites train without noise, and their exact sizes are part of what
        client-level DP protects)."""
        if self.server is not None:
            return self.server.n_sites
        return sum(plan.n_samples for plan in self.site_plans)

    @property
    def neighbouring(self):
        """The released plan's relation and unit: the row at record level, the site at client level."""
        return self.released.neighbouring

    @property
    def relation(self):
        return self.neighbouring.relation

    @property
    def accountant(self):
        return self.released.accountant

    @property
    def count(self):
        """Client level: the public roster. Record level: the count of the site with the largest ε."""
        return self.released.count

    @property
    def count_epsilon(self):
        """Record level: the pure ε of a site's DP count (each row pays its own site's)."""
        return self.released.count_epsilon

    @property
    def n_sites(self):
        return len(self.site_names)

    @property
    def delta(self):
        if self.server is not None:
            return self.server.delta
        return max(plan.delta for plan in self.site_plans)

    @property
    def noise_multiplier(self):
        return self.released.noise_multiplier

    @property
    def sample_rate(self):
        return self.released.sample_rate

    @property
    def batch_size(self):
        return self.server.denominator if self.server is not None else self.released.batch_size

    @property
    def private(self):
        return self.released.noise_multiplier > 0

    prior_history = ()

    def noise_to_signal(self, n_parameters):
        """Record level: the worst site's :meth:`TrainingPlan.noise_to_signal` over all rounds.
        Client level: 0.0, since the sites train without noise, and the server's noise falls on
        averaged updates whose signal this measure does not describe."""
        if self.server is not None:
            return 0.0
        return max(self._site_after(plan, None).noise_to_signal(n_parameters) for plan in self.site_plans)

    def _site_after(self, plan, rounds):
        return plan.with_epochs(self.local_epochs * (self.n_rounds if rounds is None else int(rounds)))

    def steps(self, rounds=None):
        """Steps of the released mechanism after ``rounds`` rounds (all by default)."""
        if self.server is not None:
            return self.n_rounds if rounds is None else int(rounds)
        return self._site_after(self.released, rounds).n_steps

    def history(self, rounds=None):
        """The released mechanism after ``rounds`` rounds (every round counts, for every site)."""
        if self.server is not None:
            return self.server.history(rounds)
        return self._site_after(self.released, rounds).history()

    def epsilon(self, rounds=None):
        if self.server is not None:
            return self.server.epsilon(rounds)
        return _site_epsilon(self._site_after(self.released, rounds))

    # -- what the ledgers read ---------------------------------------------

    def _groups(self):
        """The distinct site plans, and the group of each site."""
        distinct = list(dict.fromkeys(self.site_plans))
        return distinct, np.array([distinct.index(plan) for plan in self.site_plans], dtype=np.intp)

    def row_histories(self, rounds=None):
        """One history per group of rows: a row pays its site's plan (record level), or
        the server's mechanism (client level, see :meth:`ClientLevelPlan.row_history`)."""
        if self.server is not None:
            return [self.server.row_history(rounds)]
        distinct, _ = self._groups()
        return [self._site_after(plan, rounds).history() for plan in distinct]

    @property
    def group_of_row(self):
        if self.server is not None or self.site_of_row is None:
            return None
        return self._groups()[1][self.site_of_row]

    # -- what the fitted estimator keeps ---------------------------------------

    def sites(self, rounds):
        """``sites_``: what each site ran and spent (record level); only the names at client level,
        where a site's size and training are part of the data that the guarantee protects."""
        if self.server is not None:
            return {name: {} for name in self.site_names}
        sites = {}
        for name, plan in zip(self.site_names, self.site_plans):
            ran = self._site_after(plan, rounds)
            sites[name] = {
                # The count the site's plan read (public, or its DP count): never its exact size.
                "n_rows": ran.n_samples,
                "count_epsilon": ran.count_epsilon,
                "batch_size": ran.batch_size,
                "noise_multiplier": ran.noise_multiplier,
                "sample_rate": ran.sample_rate,
                "n_steps": ran.n_steps,
                "delta": ran.delta,
                "epsilon": _site_epsilon(ran),
            }
        return sites


def plan_federation(estimator, groups, n_samples, seed):
    """The :class:`FederatedPlan` of a fit on ``n_samples`` rows in the sites ``groups``.

    Reads the parameters and ``groups`` (which site holds each row), never a
    row; each site's plan reads its count (:func:`site_count`, DP counts
    seeded from the fit's training ``seed``, as a deployment's sites seed theirs). Raises for a
    single site, a site whose count (record level) is smaller than its batch, and secure
    aggregation with fewer than two sites per round.
    """
    groups = column_or_1d(groups)
    if len(groups) != n_samples:
        raise ValueError(
            f"groups has {len(groups)} entries for {n_samples} rows of X; give the site of every row."
        )
    names, site_of_row = np.unique(groups, return_inverse=True)
    if len(names) < 2:
        raise ValueError(
            f"groups has a single value ({names[0]!r}): a federation needs at least two "
            "sites. For one site, use DPAttentionClassifier."
        )
    names = tuple(names.tolist())
    sizes = np.bincount(site_of_row, minlength=len(names))
    site_seed, _ = federation_seeds(seed)
    site_plans = tuple(
        site_plan(estimator, name, int(size), site_count_seed(site_seed, index))
        for index, (name, size) in enumerate(zip(names, sizes))
    )
    server = client_level_plan(estimator, len(names)) if estimator.dp_level == "client" else None
    check_secure_aggregation(estimator, len(names))
    return FederatedPlan(estimator.dp_level, estimator.n_rounds, estimator.local_epochs, names, site_plans, server,
                         site_of_row)


def sites_per_round(estimator, n_sites):
    """How many sites the server asks to train in a round: at record level Flower's FedAvg
    samples ``fraction_fit`` of them (at least one); at client level it asks every site,
    and each joins by its own coin."""
    if estimator.dp_level == "client":
        return n_sites
    return max(1, int(n_sites * estimator.fraction_fit))


def check_secure_aggregation(estimator, n_sites):
    """SecAgg+ needs at least two sites in every round."""
    asked = sites_per_round(estimator, n_sites)
    if estimator.secure_aggregation and asked < MIN_SECURE_SITES:
        raise ValueError(
            f"secure_aggregation=True needs at least {MIN_SECURE_SITES} sites per round for SecAgg+, but "
            f"fraction_fit={estimator.fraction_fit} samples {asked} of the {n_sites} sites. "
            "Raise fraction_fit, add sites, or set secure_aggregation=False."
        )
