"""DP metadata (sk_privattn._dp_metadata): accounting, thresholds, ranges, categories, series.

The accounting is recomputed with dp_accounting's Gaussian privacy-loss
distributions, and checked against OpenDP as an independent oracle. The
releases are checked on realistic columns against their robust quantiles, and
on neighbouring data sets with equal noise draws: only the buckets that the
differing row touches may change.
"""

import math
import pickle

import numpy as np
import pytest
from dp_accounting import GaussianDpEvent, NeighboringRelation
from dp_accounting.pld import PLDAccountant
from dp_accounting.pld.privacy_loss_distribution import from_gaussian_mechanism
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq
from scipy.stats import norm

from sk_privattn._dp_metadata import (
    DEFAULT_NOISE_MULTIPLIER,
    MAX_EXPONENT,
    MetadataNoise,
    compose_epsilon,
    histogram_dp_event,
    partition_delta,
    partition_threshold,
    release_categories,
    release_classes,
    release_numeric_ranges,
    release_series_metadata,
    signed_log,
)

ADD_OR_REMOVE = NeighboringRelation.ADD_OR_REMOVE_ONE
REPLACE_ONE = NeighboringRelation.REPLACE_ONE
RELATIONS = [ADD_OR_REMOVE, REPLACE_ONE]

#: The default noise on a table like Adult: 6 numeric and 8 categorical features, and the label.
ADULT_NOISE = MetadataNoise(DEFAULT_NOISE_MULTIPLIER, n_numeric=6, n_categorical=9)
COLUMNS = ["age", "income", "gains", "years", "hours", "balance"]


def seed(value=0):
    return np.random.SeedSequence(value)


def pld_epsilon(event, relation, delta=1e-5):
    accountant = PLDAccountant(relation)
    accountant.compose(event)
    return accountant.get_epsilon(delta)


def gaussian_epsilon(mu, delta):
    """The exact ε at ``delta`` of a Gaussian mechanism of sensitivity / noise ``mu`` (Balle and Wang, 2018)."""

    def excess(epsilon):
        return norm.cdf(-epsilon / mu + mu / 2) - math.exp(epsilon) * norm.cdf(-epsilon / mu - mu / 2) - delta

    return brentq(excess, 0.0, 100.0)


def realistic_table(n, rng):
    """Age (17-90, skewed), a log-normal income, capital gains (92 % zeros), years, hours and a balance."""
    age = np.clip(np.round(17 + rng.gamma(2.2, 10.0, n)), 17, 90)
    income = rng.lognormal(10.6, 0.8, n)
    nonzero = rng.random(n) < 0.08
    gains = np.where(nonzero, np.where(rng.random(n) < 0.06, 99999.0, np.round(rng.lognormal(8.6, 0.7, n))), 0.0)
    years = rng.integers(1990, 2021, n).astype(float)
    hours = np.clip(np.round(rng.normal(40, 12, n)), 1, 99)
    balance = rng.normal(1500, 3000, n)
    return np.column_stack([age, income, gains, years, hours, balance])


# --- accounting -------------------------------------------------------------------------------


@pytest.mark.parametrize("noise_std, n_histograms", [(40.0, 22), (10.0, 3), (3.0, 1)])
def test_histogram_event_is_the_gaussian_mechanism_of_its_sensitivity(noise_std, n_histograms):
    # Add-or-remove: sensitivity sqrt(H). Replace-one: sqrt(2 H), a plain Gaussian shift, which
    # dp_accounting's REPLACE_ONE Gaussian reads as twice its `sensitivity` argument.
    add_or_remove = from_gaussian_mechanism(noise_std, sensitivity=math.sqrt(n_histograms))
    shift = from_gaussian_mechanism(noise_std, sensitivity=math.sqrt(2 * n_histograms))
    replace_one = from_gaussian_mechanism(noise_std, sensitivity=math.sqrt(2 * n_histograms) / 2,
                                          neighboring_relation=REPLACE_ONE)
    for delta in (1e-5, 1e-8):
        ours = pld_epsilon(histogram_dp_event(noise_std, n_histograms, ADD_OR_REMOVE), ADD_OR_REMOVE, delta)
        assert ours == pytest.approx(add_or_remove.get_epsilon_for_delta(delta), rel=1e-6)
        ours = pld_epsilon(histogram_dp_event(noise_std, n_histograms, REPLACE_ONE), REPLACE_ONE, delta)
        assert ours == pytest.approx(shift.get_epsilon_for_delta(delta), rel=1e-6)
        assert ours == pytest.approx(replace_one.get_epsilon_for_delta(delta), rel=1e-6)


def test_a_replace_one_histogram_is_more_private_than_a_sum_of_clipped_vectors():
    clipped_sum = GaussianDpEvent(40.0 / math.sqrt(2 * 22))
    histogram = histogram_dp_event(40.0, 22, REPLACE_ONE)
    assert pld_epsilon(histogram, REPLACE_ONE) < 0.5 * pld_epsilon(clipped_sum, REPLACE_ONE)


@pytest.mark.parametrize("relation, multiplier", [(ADD_OR_REMOVE, 1.0), (REPLACE_ONE, math.sqrt(2.0))])
def test_the_whole_metadata_release_is_one_gaussian_of_its_noise_multiplier(relation, multiplier):
    for noise in (ADULT_NOISE, MetadataNoise(4.0, n_numeric=22), MetadataNoise(12.0, n_categorical=3)):
        assert noise.noise_std == pytest.approx(noise.noise_multiplier * math.sqrt(noise.n_histograms))
        expected = pld_epsilon(GaussianDpEvent(multiplier * noise.noise_multiplier), relation)
        assert pld_epsilon(noise.dp_event(relation), relation) == pytest.approx(expected, rel=1e-3)


def test_compose_epsilon_composes_metadata_count_and_training_in_one_pld():
    training = dict(noise_multiplier=1.2, sample_rate=1 / 32, steps=800)
    alone = compose_epsilon(delta=1e-5, relation=ADD_OR_REMOVE, **training)
    with_metadata = compose_epsilon(delta=1e-5, relation=ADD_OR_REMOVE, metadata=ADULT_NOISE, **training)
    everything = compose_epsilon(delta=1e-5, relation=ADD_OR_REMOVE, metadata=ADULT_NOISE, count_epsilon=0.02,
                                 **training)
    assert alone < with_metadata < everything < with_metadata + 0.02
    assert compose_epsilon(delta=1e-5, relation=ADD_OR_REMOVE, metadata=ADULT_NOISE) == pytest.approx(
        pld_epsilon(GaussianDpEvent(DEFAULT_NOISE_MULTIPLIER), ADD_OR_REMOVE), rel=1e-2
    )
    with pytest.raises(ValueError, match="replace-one makes the count public"):
        compose_epsilon(delta=1e-5, relation=REPLACE_ONE, count_epsilon=0.02, **training)


# --- partition selection: thresholds, δ, and OpenDP as the oracle -----------------------------------


@pytest.mark.parametrize("relation", RELATIONS)
@pytest.mark.parametrize("noise_std, delta", [(36.7, 1e-7), (5.0, 1e-3), (100.0, 1e-10)])
def test_partition_threshold_inverts_partition_delta(relation, noise_std, delta):
    threshold = partition_threshold(noise_std, delta, relation)
    assert partition_delta(noise_std, threshold, relation) == pytest.approx(delta, rel=1e-6)
    assert partition_delta(noise_std, threshold - 0.01, relation) > delta


def test_partition_threshold_of_the_issue():
    # Issue 34: noise multiplier 8 with 22 features, δ = 1e-6 over 8 categorical features: near 195 rows.
    noise_std = MetadataNoise(8.0, n_categorical=22).noise_std
    assert noise_std == pytest.approx(37.5, abs=0.1)
    assert partition_threshold(noise_std, 1e-6 / 8, ADD_OR_REMOVE) == pytest.approx(195, abs=1)


def test_keys_of_one_row_are_released_at_the_rate_partition_delta_states():
    noise = MetadataNoise(4.0, n_categorical=1)
    released = release_categories(np.arange(20_000)[:, None], noise=noise, seed=seed(3), delta=0.05,
                                  relation=ADD_OR_REMOVE)
    rate, expected = len(released.categories[0]) / 20_000, partition_delta(noise.noise_std, released.threshold,
                                                                          ADD_OR_REMOVE)
    assert expected == pytest.approx(0.05)
    assert abs(rate - expected) < 6 * math.sqrt(expected * (1 - expected) / 20_000)


def test_partition_selection_agrees_with_opendp():
    dp = pytest.importorskip("opendp.prelude")
    dp.enable_features("contrib")
    noise_std, threshold, n_features = 20.0, 120.0, 8
    domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=float, nan=False))
    measurement = dp.m.make_gaussian_threshold(domain, dp.l02inf_distance(dp.absolute_distance(T=float)),
                                               scale=noise_std, threshold=threshold)
    # Add-or-remove: a row touches one key per feature, with weight 1.
    rho, delta = measurement.map((n_features, math.sqrt(n_features), 1.0))
    assert delta == pytest.approx(n_features * partition_delta(noise_std, threshold, ADD_OR_REMOVE), rel=1e-4)
    ours = pld_epsilon(histogram_dp_event(noise_std, n_features, ADD_OR_REMOVE), ADD_OR_REMOVE)
    assert ours == pytest.approx(gaussian_epsilon(math.sqrt(2 * rho), 1e-5), rel=1e-3)
    # Replace-one: OpenDP bounds two keys per feature at weight 1 each; ours is between half of it and it.
    _, delta = measurement.map((2 * n_features, math.sqrt(2 * n_features), 1.0))
    assert delta / 2 < n_features * partition_delta(noise_std, threshold, REPLACE_ONE) <= delta


def test_histogram_privacy_agrees_with_opendp():
    dp = pytest.importorskip("opendp.prelude")
    dp.enable_features("contrib")
    noise_std, n_features = 30.0, 14
    histogram = dp.t.make_count_by_categories(dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance(),
                                              categories=["a", "b", "c"], MO="L2Distance<f64>", TOA="f64")
    measurement = histogram >> dp.m.then_gaussian(scale=noise_std)
    # zCDP composes by addition: n_features histograms, each at d_in = 1 (one row added or removed).
    rho = n_features * measurement.map(1)
    ours = pld_epsilon(histogram_dp_event(noise_std, n_features, ADD_OR_REMOVE), ADD_OR_REMOVE)
    assert ours == pytest.approx(gaussian_epsilon(math.sqrt(2 * rho), 1e-5), rel=1e-3)
    # OpenDP's own conversion of ρ to (ε, δ), of the joint release (L2 sensitivity sqrt(H)), bounds it from above.
    joint = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float),
                               scale=noise_std)
    assert joint.map(math.sqrt(n_features)) == pytest.approx(rho)
    opendp_epsilon, _ = dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(joint), 1e-5).map(math.sqrt(n_features))
    assert ours < opendp_epsilon < 1.5 * ours
    # Replace-one is d_in = 2 under the symmetric distance; OpenDP bounds its L2 change by 2 (not sqrt(2)).
    rho_replace = n_features * measurement.map(2)
    ours = pld_epsilon(histogram_dp_event(noise_std, n_features, REPLACE_ONE), REPLACE_ONE)
    assert ours < gaussian_epsilon(math.sqrt(2 * rho_replace), 1e-5)
    assert ours == pytest.approx(gaussian_epsilon(math.sqrt(2 * rho_replace) / math.sqrt(2), 1e-5), rel=1e-3)
