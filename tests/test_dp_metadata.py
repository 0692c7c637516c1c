"""DP metadata (sk_privattn.privacy._metadata): accounting, thresholds, ranges, categories, series.

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

from sk_privattn.privacy._metadata import (
    COARSE_RUNS,
    DEFAULT_NOISE_MULTIPLIER,
    MAX_EXPONENT,
    MetadataNoise,
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


# --- numeric ranges -----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2_000, 30_000])
def test_ranges_follow_the_robust_quantiles_of_realistic_columns(n):
    # Each bound holds on every one of 20,000 seeds at 2,000 rows and 1,500 at 30,000, with margins
    # (docs/_drafts/dp_metadata.md). Errors are in units of the 1 %-99 % width. At 2,000 rows a bucket's
    # noise (37 rows) hides the thin tails.
    X = realistic_table(n, np.random.default_rng(n))
    q01, q25, q75, q99 = np.quantile(X, [0.01, 0.25, 0.75, 0.99], axis=0)
    ranges = release_numeric_ranges(X, noise=ADULT_NOISE, seed=seed(n))
    width = q99 - q01
    lower_error, upper_error = (ranges.lower - q01) / width, (ranges.upper - q99) / width
    age, income, gains, years, hours, balance = range(6)
    if n == 30_000:
        plain = [age, income, hours, balance]
        assert np.all(np.abs(lower_error[plain]) < 0.25) and np.all(np.abs(upper_error[plain]) < 0.6)
        assert -(2.0**-32) <= ranges.lower[gains] < 1 and 1_000 < ranges.upper[gains] < 1e5
        assert 1980 < ranges.lower[years] <= 1990 and 2020 <= ranges.upper[years] < 2040
    else:
        plain = [age, income, hours]
        assert np.all(ranges.lower[plain] <= q25[plain]) and np.all(ranges.upper[plain] >= q75[plain])
        assert np.all(lower_error[plain] > -0.25) and np.all(upper_error[plain] < 1.5)
        # The negative third of the balance spreads over powers of two, each under the noise: it may be lost.
        assert -1.0 < lower_error[balance] and ranges.lower[balance] <= q75[balance]
        assert q75[balance] <= ranges.upper[balance] and upper_error[balance] < 0.25
        # Capital gains: their tail is under the noise, so no range (the caller falls back to signed_log).
        assert np.isnan(ranges.lower[gains]) or (ranges.lower[gains] < 1 and ranges.upper[gains] > 1_000)
        assert 1024 <= ranges.lower[years] <= 1990 and 2020 <= ranges.upper[years] <= 2048
    assert np.all(ranges.coarse_lower[ranges.has_range] <= ranges.lower[ranges.has_range])
    assert np.all(ranges.upper[ranges.has_range] <= ranges.coarse_upper[ranges.has_range])


def test_a_column_of_zeros_with_a_tail_keeps_its_values_apart():
    X = realistic_table(2_000, np.random.default_rng(1))[:, [2]]
    encoded = signed_log(X[:, 0])
    assert np.all(encoded[X[:, 0] == 0] == 0) and np.all(encoded[X[:, 0] > 0] > 0.45)
    assert len(np.unique(encoded)) == len(np.unique(X))


def test_an_empty_grid_releases_no_range_but_with_the_stated_probability():
    noise, n_features = MetadataNoise(8.0, n_numeric=5), 5
    ranges = release_numeric_ranges(np.zeros((0, n_features)), noise=noise, seed=seed())
    assert not ranges.has_range.any() and np.isnan(ranges.coarse_lower).all()
    # At a probability large enough to measure. The union bound covers every bucket and run; a range
    # needs a bucket besides the zero bucket to clear on its own, each with probability p.
    probability, trials = 0.2, 2_000
    hits = sum(
        (~np.isnan(release_numeric_ranges(np.zeros((0, n_features)), noise=noise, seed=seed(trial),
                                          empty_bucket_probability=probability).coarse_lower)).any()
        for trial in range(trials)
    )
    buckets = ranges.coarse_counts.size
    p = norm.sf(norm.isf(probability / ((1 + len(COARSE_RUNS)) * buckets)))
    expected = 1 - (1 - p) ** (buckets - n_features)
    assert expected < probability
    assert abs(hits / trials - expected) < 5 * math.sqrt(expected * (1 - expected) / trials)


def test_a_unique_extreme_value_is_not_released():
    ages = realistic_table(2_000, np.random.default_rng(2))[:, :1]
    extremes = np.vstack([ages, [[1e12]], [[-1e12]]])
    plain = release_numeric_ranges(ages, noise=ADULT_NOISE, seed=seed(4))
    ranges = release_numeric_ranges(extremes, noise=ADULT_NOISE, seed=seed(4))
    assert ranges.coarse_lower[0] == plain.coarse_lower[0] and ranges.coarse_upper[0] == plain.coarse_upper[0]
    assert 10 < ranges.lower[0] and ranges.upper[0] < 130
    assert ranges.upper[0] == pytest.approx(plain.upper[0], rel=0.05)


def test_public_bounds_clip_and_the_dp_range_sets_the_scale():
    X = realistic_table(30_000, np.random.default_rng(5))
    income, age = X[:, [1]], X[:, [0]]
    free = release_numeric_ranges(income, noise=ADULT_NOISE, seed=seed(6))
    wide = release_numeric_ranges(income, noise=ADULT_NOISE, seed=seed(6), public_bounds=[(0, 1e7)])
    assert np.isnan(wide.coarse_counts[0, wide.bucket_edges[1:] <= 0]).all()
    assert wide.lower[0] == pytest.approx(free.lower[0], rel=0.1) and wide.upper[0] == pytest.approx(free.upper[0], rel=0.3)
    assert wide.upper[0] < 1e6
    cut = release_numeric_ranges(age, noise=ADULT_NOISE, seed=seed(6), public_bounds=[(30, 60)])
    assert 30 <= cut.lower[0] < 31 and 59 < cut.upper[0] <= 60
    one_sided = release_numeric_ranges(X[:, [5]], noise=ADULT_NOISE, seed=seed(6), public_bounds=[(0, np.inf)])
    assert 0 <= one_sided.lower[0] < 100


@pytest.mark.parametrize("column, expected", [
    (np.full(1_000, np.nan), None),
    (np.zeros(1_000), None),
    (np.zeros(0), None),
    (np.full(1_000, 5.0), (4.5, 5.5, 8.0)),
    (np.r_[np.full(999, 3.0), np.inf], (2.5, 3.5, 4.0)),
    (np.r_[np.full(600, 3.0), np.full(400, np.inf)], (2.0, 2.0**MAX_EXPONENT, 2.0**MAX_EXPONENT)),
])
def test_missing_zero_empty_constant_and_infinite_columns_get_their_dp_outcome(column, expected):
    ranges = release_numeric_ranges(column[:, None], noise=MetadataNoise(2.0, n_numeric=1), seed=seed(7))
    if expected is None:
        assert not ranges.has_range[0]
    else:
        lowest, highest, coarse_upper = expected
        assert lowest <= ranges.lower[0] <= ranges.upper[0] <= highest
        assert ranges.coarse_upper[0] == coarse_upper
    if len(column):
        assert ranges.missing_counts[0] == pytest.approx(np.isnan(column).sum(), abs=6 * ranges.noise_std)


def test_releases_are_deterministic_given_the_seed_and_features_never_share_noise():
    X = np.tile(np.arange(100.0)[:, None], (1, 2))
    first = release_numeric_ranges(X, noise=MetadataNoise(8.0, n_numeric=2), seed=seed(8))
    again = release_numeric_ranges(X, noise=MetadataNoise(8.0, n_numeric=2), seed=seed(8))
    other = release_numeric_ranges(X, noise=MetadataNoise(8.0, n_numeric=2), seed=seed(9))
    assert pickle.dumps(first) == pickle.dumps(again)
    assert not np.allclose(first.coarse_counts[0], other.coarse_counts[0], equal_nan=True)
    live = ~np.isnan(first.coarse_counts[0])
    assert not np.any(first.coarse_counts[0, live] == first.coarse_counts[1, live])


VALUES = st.sampled_from([0.0, -0.0, 1.5, -3.0, 7.0, 1e-12, 2.0**70, -np.inf, np.inf, np.nan, 40.0, 41.0, 1990.0])
TABLES = st.integers(1, 3).flatmap(
    lambda d: st.tuples(st.lists(st.lists(VALUES, min_size=d, max_size=d), max_size=25),
                        st.lists(VALUES, min_size=d, max_size=d), st.lists(VALUES, min_size=d, max_size=d))
)


def coarse_change(first, second):
    return np.nan_to_num(second.coarse_counts - first.coarse_counts), second.missing_counts - first.missing_counts


@settings(max_examples=40, deadline=None)
@given(TABLES)
def test_one_row_changes_each_feature_s_grid_by_one_bucket(table):
    rows, extra, other = table
    d = len(extra)
    X = np.array(rows, dtype=float).reshape(-1, d)
    noise = MetadataNoise(8.0, n_numeric=d)
    base = release_numeric_ranges(X, noise=noise, seed=seed(10))
    # Add one row: exactly +1 in one bucket (or the missing count) of each feature; L2 norm sqrt(d).
    added = release_numeric_ranges(np.vstack([X, extra]), noise=noise, seed=seed(10))
    grid, missing = coarse_change(base, added)
    change = np.hstack([grid, missing[:, None]])
    np.testing.assert_allclose(np.sort(change, axis=1)[:, :-1], 0.0, atol=1e-9)
    np.testing.assert_allclose(change.sum(axis=1), 1.0, atol=1e-9)
    if len(rows):
        # Replace one row: at most -1 and +1 per feature; L2 norm at most sqrt(2 d).
        replaced = release_numeric_ranges(np.vstack([X[1:], other]), noise=noise, seed=seed(10))
        grid, missing = coarse_change(base, replaced)
        assert np.linalg.norm(np.hstack([grid, missing[:, None]])) <= math.sqrt(2 * d) + 1e-9
        same = (replaced.refined_counts[0].size == base.refined_counts[0].size
                and np.array_equal(replaced.refined_edges[0], base.refined_edges[0]))
        if same and base.refined_counts[0].size:
            assert np.abs(replaced.refined_counts[0] - base.refined_counts[0]).sum() <= 2 + 1e-9


def test_a_person_weighs_one_in_each_feature_s_grid():
    rng = np.random.default_rng(11)
    X, groups = rng.normal(50, 20, size=(300, 2)), rng.integers(0, 60, 300)
    person = np.array([[1e3, -5.0], [2e5, np.nan], [7.0, np.inf]])
    noise = MetadataNoise(8.0, n_numeric=2)
    base = release_numeric_ranges(X, noise=noise, seed=seed(12), groups=groups)
    added = release_numeric_ranges(np.vstack([X, person]), noise=noise, seed=seed(12), groups=np.r_[groups, 99, 99, 99])
    grid, missing = coarse_change(base, added)
    change = np.hstack([grid, missing[:, None]])
    np.testing.assert_allclose(change.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(np.linalg.norm(change, axis=1) <= 1.0 + 1e-9) and np.all(change >= -1e-9)


# --- categories and classes -------------------------------------------------------------------------

CATEGORY_DELTA = 1e-6


def colours(n_red=600, n_blue=400, extra=()):
    return np.array(["red"] * n_red + ["blue"] * n_blue + list(extra), dtype=object)


def test_a_category_held_by_one_row_is_not_released_and_the_output_is_sorted():
    X = np.column_stack([colours(extra=["mauve"]), np.r_[np.full(1_000, 7), [8]]])
    released = release_categories(X, noise=MetadataNoise(8.0, n_categorical=2), seed=seed(), delta=CATEGORY_DELTA,
                                  relation=ADD_OR_REMOVE)
    assert released.categories == (("blue", "red"), (7,))
    assert released.delta == pytest.approx(CATEGORY_DELTA, rel=1e-6)
    assert all(len(keys) == len(counts) for keys, counts in zip(released.categories, released.counts))


@pytest.mark.parametrize("change", ["new key", "existing key", "replaced"])
def test_neighbours_get_the_same_noise_on_every_key_they_share(change):
    # A threshold low enough to release almost every key, so that every shared key is compared.
    rng = np.random.default_rng(13)
    base = rng.choice([f"k{index}" for index in range(300)], size=3_000).astype(object)
    other = {"new key": np.r_[base, ["fresh"]], "existing key": np.r_[base, ["k7"]],
             "replaced": np.r_[base[1:], ["fresh"]]}[change]
    noise = MetadataNoise(8.0, n_categorical=1)
    first, second = (release_categories(column[:, None], noise=noise, seed=seed(14), delta=0.99,
                                        relation=ADD_OR_REMOVE) for column in (base, other))
    counts = [dict(zip(released.categories[0], released.counts[0])) for released in (first, second)]
    shared = counts[0].keys() & counts[1].keys()
    assert len(shared) > 250
    true_change = {key: int((other == key).sum()) - int((base == key).sum()) for key in shared}
    for key in shared:
        assert counts[1][key] - counts[0][key] == pytest.approx(true_change[key], abs=1e-9)


def test_neighbours_release_identical_bytes_when_the_released_sets_are_equal():
    noise = MetadataNoise(8.0, n_categorical=1)
    outputs = [
        release_categories(column[:, None], noise=noise, seed=seed(15), delta=CATEGORY_DELTA, relation=relation)
        for column, relation in [(colours(), ADD_OR_REMOVE), (colours(extra=["mauve"]), ADD_OR_REMOVE),
                                 (colours(599, 400, ["mauve"]), REPLACE_ONE)]
    ]
    assert outputs[0].categories == outputs[1].categories == outputs[2].categories
    assert pickle.dumps((outputs[0].categories, outputs[0].counts)) == pickle.dumps(
        (outputs[1].categories, outputs[1].counts))


def test_a_person_counts_once_per_feature():
    rows = colours(extra=["rare"] * 500)
    groups = np.r_[np.arange(1_000), np.full(500, 1_000)]
    noise = MetadataNoise(8.0, n_categorical=1)
    by_row = release_categories(rows[:, None], noise=noise, seed=seed(16), delta=CATEGORY_DELTA, relation=ADD_OR_REMOVE)
    by_person = release_categories(rows[:, None], noise=noise, seed=seed(16), delta=CATEGORY_DELTA,
                                   relation=ADD_OR_REMOVE, groups=groups)
    assert by_row.categories == (("blue", "rare", "red"),) and by_person.categories == (("blue", "red"),)


def test_more_categories_than_the_limit_keeps_the_largest_noisy_counts():
    column = np.repeat([f"c{index:02d}" for index in range(40)], [300] * 35 + [1_000] * 5).astype(object)
    released = release_categories(column[:, None], noise=MetadataNoise(8.0, n_categorical=1), seed=seed(17),
                                  delta=CATEGORY_DELTA, relation=ADD_OR_REMOVE, max_categories=5)
    assert released.categories == (("c35", "c36", "c37", "c38", "c39"),)


def test_category_values_of_any_type_are_keys_and_missing_values_are_not():
    column = np.array([1] * 300 + [1.0] * 300 + [np.int64(1)] * 300 + [True] * 900 + ["1"] * 900
                      + [b"x"] * 900 + [(2, 3)] * 900 + [None] * 900 + [np.nan] * 900 + [2.5], dtype=object)
    released = release_categories(column[:, None], noise=MetadataNoise(8.0, n_categorical=1), seed=seed(18),
                                  delta=CATEGORY_DELTA, relation=REPLACE_ONE)
    assert released.categories == ((True, 1, "1", b"x", "tuple: (2, 3)"),)


def test_a_label_held_by_one_row_is_not_released():
    y = np.r_[np.zeros(900), np.ones(300), [2]]
    released = release_classes(y, noise=MetadataNoise(8.0, n_categorical=1), seed=seed(19), delta=1e-7,
                               relation=ADD_OR_REMOVE)
    assert released.categories == ((0, 1),)


def test_what_a_rare_class_needs_at_the_default_noise():
    # The figures of release_classes' documentation: 2,000 rows, a class of 5 %.
    threshold = partition_threshold(ADULT_NOISE.noise_std, 1e-7, ADD_OR_REMOVE)
    assert ADULT_NOISE.noise_std == pytest.approx(36.7, abs=0.05) and threshold == pytest.approx(192, abs=0.5)
    assert threshold + norm.isf(0.05) * ADULT_NOISE.noise_std == pytest.approx(252, abs=0.5)
    assert norm.sf((threshold - 100) / ADULT_NOISE.noise_std) == pytest.approx(0.006, abs=0.0005)
    # A class of 40 rows is released with probability 2e-5.
    y = np.r_[np.zeros(1_960), np.ones(40)]
    released = release_classes(y, noise=ADULT_NOISE, seed=seed(20), delta=1e-7, relation=ADD_OR_REMOVE)
    assert released.categories == ((0,),)


def test_empty_categories_and_labels_release_nothing():
    noise = MetadataNoise(8.0, n_categorical=2)
    empty = release_categories(np.zeros((0, 2), dtype=object), noise=noise, seed=seed(), delta=CATEGORY_DELTA,
                               relation=ADD_OR_REMOVE)
    assert empty.categories == ((), ()) and empty.delta == pytest.approx(CATEGORY_DELTA)
    assert release_classes([], noise=noise, seed=seed(), delta=1e-7, relation=REPLACE_ONE).categories == ((),)
    none = release_categories(np.zeros((5, 0), dtype=object), noise=noise, seed=seed(), delta=CATEGORY_DELTA,
                              relation=ADD_OR_REMOVE)
    assert none.categories == () and none.delta == 0.0


# --- series ---------------------------------------------------------------------------------------


def test_series_ranges_and_length():
    rng = np.random.default_rng(21)
    series = [rng.normal([20.0, -3.0], [2.0, 1.0], size=(rng.integers(50, 101), 2)) for _ in range(6_000)]
    series.append(np.full((100_000, 2), 1e9))  # one series, very long and extreme
    noise = MetadataNoise(8.0, n_numeric=3, n_categorical=1)
    released = release_series_metadata(series, n_channels=2, noise=noise, seed=seed(22))
    # Within 0.3 of the 1 %-99 % width (0.16 at most over 150 seeds); the length within its grid bucket.
    mean, width = np.array([20.0, -3.0]), 2 * 2.33 * np.array([2.0, 1.0])
    assert np.all(np.abs(released.value_lower - (mean - width / 2)) < 0.3 * width)
    assert np.all(np.abs(released.value_upper - (mean + width / 2)) < 0.3 * width)
    assert 100 <= released.max_length <= 128


def test_series_without_data_or_with_degenerate_series_get_their_dp_outcome():
    noise = MetadataNoise(8.0, n_numeric=2)
    empty = release_series_metadata([], n_channels=1, noise=noise, seed=seed())
    assert empty.max_length is None and np.isnan(empty.value_lower).all()
    odd = [np.zeros(0), np.full(5, np.nan), np.array([np.inf, 1.0]), *[np.arange(10.0)] * 2_000]
    groups = np.r_[[0, 1, 2], np.arange(3, 2_003) // 4]
    released = release_series_metadata(odd, n_channels=1, noise=noise, seed=seed(23), groups=groups)
    assert 0.0 <= released.value_lower[0] < released.value_upper[0] <= 16.0 and 10 <= released.max_length <= 16


# --- schema errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("call, match", [
    (lambda: release_numeric_ranges(np.zeros(3), noise=MetadataNoise(8.0, 1), seed=seed()), "2-D array"),
    (lambda: release_numeric_ranges([["a"]], noise=MetadataNoise(8.0, 1), seed=seed()), "must hold numbers"),
    (lambda: release_numeric_ranges(np.zeros((2, 2)), noise=MetadataNoise(8.0, 1), seed=seed()), "n_numeric=1"),
    (lambda: release_numeric_ranges(np.zeros((2, 1)), noise=8.0, seed=seed()), "pass a MetadataNoise"),
    (lambda: release_numeric_ranges(np.zeros((2, 1)), noise=MetadataNoise(8.0, 1), seed=3), "SeedSequence"),
    (lambda: release_numeric_ranges(np.zeros((2, 1)), noise=MetadataNoise(8.0, 1), seed=seed(),
                                    public_bounds=[(1, 0)]), "low < high"),
    (lambda: release_numeric_ranges(np.zeros((2, 1)), noise=MetadataNoise(8.0, 1), seed=seed(),
                                    groups=[1, 2, 3]), "one person id per row"),
    (lambda: release_numeric_ranges(np.zeros((2, 1)), noise=MetadataNoise(8.0, 1), seed=seed(), quantile=0.5),
     "quantile=0.5"),
    (lambda: release_categories([["a"]], noise=MetadataNoise(8.0, n_categorical=1), seed=seed(), delta=0.0,
                                relation=ADD_OR_REMOVE), "delta=0.0"),
    (lambda: release_categories([["a"]], noise=MetadataNoise(8.0, n_categorical=1), seed=seed(), delta=1e-6,
                                relation=NeighboringRelation.REPLACE_SPECIAL), "ADD_OR_REMOVE_ONE"),
    (lambda: release_categories([["a"]], noise=MetadataNoise(8.0, n_categorical=1), seed=seed(), delta=1e-6,
                                relation=ADD_OR_REMOVE, max_categories=0), "max_categories=0"),
    (lambda: release_classes(np.zeros((2, 2)), noise=MetadataNoise(8.0, n_categorical=1), seed=seed(), delta=1e-6,
                             relation=ADD_OR_REMOVE), "one label per row"),
    (lambda: release_series_metadata([np.zeros((3, 2))], n_channels=1, noise=MetadataNoise(8.0, 2), seed=seed()),
     "n_channels=1"),
    (lambda: MetadataNoise(0.0), "noise_multiplier=0.0"),
    (lambda: MetadataNoise(8.0, n_numeric=-1), "n_numeric=-1"),
])
def test_schema_errors_name_the_parameter_and_the_fix(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
