"""Exact Poisson sampling at O(batch) per step: rows, persons, the per-person cap, seeds.

The statistical checks use fixed secrets, so they are deterministic; each
threshold is set so that it would fail with probability well under 1e-5 for a
sampler of the right distribution (a chi-square p-value below 1e-7, or a
z-score above 6.5 over at most ~2e4 simultaneous comparisons).
"""

import decimal
import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from sk_privattn.dpsgd._poisson import (
    ROW_PRIORITY,
    ROWS,
    _binomial_cdf,
    bottom_k,
    canonical_id,
    check_plan,
    check_secret,
    group_rows,
    person_codes,
    person_step_rows,
    person_steps,
    poisson_rows,
    random_stream,
)
from sk_privattn.dpsgd._sampling import PersonBatches, RowBatches, person_index

P_VALUE_FLOOR = 1e-7
Z_CEILING = 6.5



def _persons(person_id):
    return person_index(person_id, len(person_id))

def chi_square_p(observed, expected):
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    statistic = ((observed - expected) ** 2 / expected).sum()
    return stats.chi2.sf(statistic, len(observed) - 1)


def subset_probabilities(n, q):
    """The probability of every subset of range(n) under independent Bernoulli(q) coins, by bitmask."""
    sizes = np.array([bin(mask).count("1") for mask in range(2**n)])
    return q**sizes * (1 - q) ** (n - sizes)


def bitmask(members):
    return int(sum(1 << int(i) for i in members))


# Rows -------------------------------------------------------------------------------------------


def test_every_subset_of_six_rows_has_its_bernoulli_probability():
    n, q, draws = 6, 0.3, 20_000
    masks = [bitmask(poisson_rows(n, q, random_stream(11, ROWS, step=t))) for t in range(draws)]
    observed = np.bincount(masks, minlength=2**n)
    assert chi_square_p(observed, draws * subset_probabilities(n, q)) > P_VALUE_FLOOR


def test_rows_are_included_independently_at_rate_q():
    n, q, draws = 120, 0.05, 20_000
    batches = RowBatches(n, steps=draws, sample_rate=q, secret=5)
    included = np.zeros((draws, n), dtype=bool)
    for t, rows in enumerate(batches):
        included[t, rows] = True
    frequency = included.mean(axis=0)
    assert np.abs(frequency - q).max() < Z_CEILING * math.sqrt(q * (1 - q) / draws)
    correlation = np.corrcoef(included.T)[np.triu_indices(n, 1)]
    assert np.abs(correlation).max() < Z_CEILING / math.sqrt(draws)


def test_a_sample_is_sorted_distinct_and_in_range():
    rows = poisson_rows(100_000, 0.02, random_stream(1, ROWS, step=0))
    assert rows.dtype == np.int64 and np.all(np.diff(rows) > 0) and 0 <= rows[0] and rows[-1] < 100_000


@pytest.mark.parametrize(("n_rows", "q", "expected"), [(0, 0.5, 0), (50, 0.0, 0), (50, 1.0, 50)])
def test_edge_rates_and_sizes(n_rows, q, expected):
    assert len(poisson_rows(n_rows, q, random_stream(0, ROWS))) == expected


def test_streams_are_keyed_by_purpose_partition_and_step():
    draw = lambda *key: random_stream(3, *key).integers(2**62)  # noqa: E731
    assert draw(ROWS, 1, 2) == draw(ROWS, 1, 2)
    assert len({draw(ROWS, 1, 2), draw(ROWS, 2, 1), draw(ROW_PRIORITY, 1, 2), draw(ROWS, 1, 3)}) == 4
    assert random_stream(3, ROWS, 1, 2).integers(2**62) != random_stream(4, ROWS, 1, 2).integers(2**62)


def test_row_batches_repeat_with_the_secret_and_index_a_data_loader():
    batches = RowBatches(1000, steps=6, sample_rate=0.1, secret=9)
    assert len(batches) == 6
    again = RowBatches(1000, steps=6, sample_rate=0.1, secret=9)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    assert not np.array_equal(batches.sample(0), RowBatches(1000, steps=1, sample_rate=0.1, secret=10).sample(0))

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return 1000

        def __getitems__(self, index):
            return torch.arange(1000)[torch.as_tensor(index)]

    fresh = RowBatches(1000, steps=6, sample_rate=0.1, secret=9, steps_per_epoch=3)
    loader = torch.utils.data.DataLoader(Rows(), batch_sampler=fresh, collate_fn=lambda batch: batch)
    epochs = [[batch.tolist() for batch in loader] for _ in range(2)]  # the steps continue across epochs
    assert epochs[0] + epochs[1] == [batches.sample(t).tolist() for t in range(6)]
    with pytest.raises(RuntimeError, match="past the plan's 6 steps"):
        next(iter(loader))


def test_partitions_draw_their_own_samples():
    a = RowBatches(10_000, steps=1, sample_rate=0.01, secret=1, partition=0).sample(0)
    b = RowBatches(10_000, steps=1, sample_rate=0.01, secret=1, partition=1).sample(0)
    assert not np.array_equal(a, b)


# Persons: canonical ids ------------------------------------------------------------------------


def test_an_id_is_one_person_whatever_its_type():
    same = [3, 3.0, np.int64(3), np.uint8(3), np.float32(3), "3", b"3", decimal.Decimal("3.00")]
    assert {canonical_id(value) for value in same} == {"3"}
    assert canonical_id("03") == "03" and canonical_id("3.0") == "3.0" and canonical_id(" 3") == " 3"
    assert canonical_id(2.5) == "2.5" and canonical_id(decimal.Decimal("2.50")) == "2.5"
    assert canonical_id("e\u0301") == canonical_id("\u00e9")  # Unicode NFC
    assert canonical_id(-7) == "-7" and canonical_id(2**70) == str(2**70)


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (None, ValueError, "missing value"),
        (float("nan"), ValueError, "finite id"),
        (math.inf, ValueError, "finite id"),
        (True, TypeError, "boolean"),
        (1j, TypeError, "type complex"),
    ],
)
def test_ids_without_a_canonical_form_are_refused(value, error, match):
    with pytest.raises(error, match=match):
        canonical_id(value)


def test_person_codes_merge_the_forms_of_one_id():
    ids, code = person_codes([3, "3", 3.0, "03", np.int64(4), "4"])
    assert ids.tolist() == ["03", "3", "4"]
    assert code.tolist() == [1, 1, 1, 0, 2, 2]
    int_ids, int_code = person_codes(np.array([5, 3, 5]))
    str_ids, str_code = person_codes(np.array(["5", "3", "5"]))
    assert int_ids.tolist() == str_ids.tolist() and np.array_equal(int_code, str_code)


@pytest.mark.parametrize("person_id", [np.array([True, False]), np.array([1.0, np.nan]), np.zeros((2, 2))])
def test_person_codes_refuse_bad_columns(person_id):
    with pytest.raises((TypeError, ValueError), match="person_id"):
        person_codes(person_id)


# Persons: keyed steps --------------------------------------------------------------------------


def steps_matrix(n_persons, steps, q, secret, offset=0):
    ids = [f"p{i + offset}" for i in range(n_persons)]
    person, step = person_steps(ids, steps=steps, sample_rate=q, secret=secret)
    matrix = np.zeros((n_persons, steps), dtype=bool)
    matrix[person, step] = True
    assert matrix.sum() == len(step), "a person drew the same step twice"
    return matrix


def test_every_set_of_five_steps_has_its_bernoulli_probability():
    n_persons, steps, q = 20_000, 5, 0.3
    matrix = steps_matrix(n_persons, steps, q, secret=2)
    masks = matrix @ (1 << np.arange(steps))
    observed = np.bincount(masks, minlength=2**steps)
    assert chi_square_p(observed, n_persons * subset_probabilities(steps, q)) > P_VALUE_FLOOR


# counts below and above 8 words, and above T / 2 (Floyd draws the complement)
@pytest.mark.parametrize(("steps", "q"), [(60, 0.05), (40, 0.3), (30, 0.6), (20, 0.95)])
def test_person_steps_are_independent_coins(steps, q):
    n_persons = 20_000
    matrix = steps_matrix(n_persons, steps, q, secret=4)
    frequency = matrix.mean(axis=0)
    assert np.abs(frequency - q).max() < Z_CEILING * math.sqrt(q * (1 - q) / n_persons)
    correlation = np.corrcoef(matrix.T)[np.triu_indices(steps, 1)]
    assert np.abs(correlation).max() < Z_CEILING / math.sqrt(n_persons)
    counts = matrix.sum(axis=1)
    expected = n_persons * stats.binom.pmf(np.arange(steps + 1), steps, q)
    pooled = expected >= 5  # pool the sparse tails into one cell
    observed_cells = np.r_[np.bincount(counts, minlength=steps + 1)[pooled], counts[~pooled[counts]].size]
    assert chi_square_p(observed_cells, np.r_[expected[pooled], expected[~pooled].sum()]) > P_VALUE_FLOOR


def test_a_persons_steps_depend_on_the_secret_and_id_alone():
    ids = ["a", "b", "c", "d"]
    person, step = person_steps(ids, steps=200, sample_rate=0.2, secret=8)
    for i, one in enumerate(ids):  # as another partition, which holds one of these persons, draws them
        alone_person, alone_step = person_steps(["zz", one], steps=200, sample_rate=0.2, secret=8)
        assert sorted(alone_step[alone_person == 1]) == sorted(step[person == i])
    ids_of_three = person_codes([3])[0].tolist() + person_codes(["3"])[0].tolist()
    three, string_three = (person_steps([i], steps=200, sample_rate=0.2, secret=8)[1] for i in ids_of_three)
    assert np.array_equal(three, string_three)
    other_secret = person_steps(ids, steps=200, sample_rate=0.2, secret=9)[1]
    assert not np.array_equal(np.sort(other_secret), np.sort(step))


@pytest.mark.parametrize(("q", "expected"), [(0.0, 0), (1.0, 50)])
def test_person_steps_at_the_edge_rates(q, expected):
    person, step = person_steps([str(i) for i in range(30)], steps=50, sample_rate=q, secret=0)
    assert len(step) == 30 * expected
    assert all(sorted(step[person == i]) == list(range(50)) for i in range(30) if expected)


def test_binomial_cdf_matches_scipy():
    for n, p in [(1, 0.5), (40, 0.03), (2000, 1 / 2000), (500, 0.9)]:
        np.testing.assert_allclose(_binomial_cdf(n, p), stats.binom.cdf(np.arange(n + 1), n, p), atol=1e-12)
    assert _binomial_cdf(5, 0.0).tolist() == [1.0] * 6 and _binomial_cdf(5, 1.0).tolist() == [0.0] * 5 + [1.0]


# Persons: the cap with bottom-k priorities ---------------------------------------------------


def test_bottom_k_keeps_the_smallest_per_group():
    group = np.array([2, 0, 2, 0, 2, 1])
    priority = np.array([0.3, 0.9, 0.1, 0.2, 0.2, 0.5])
    assert bottom_k(group, priority, 2).tolist() == [False, True, True, True, True, True]
    assert bottom_k(group, priority, 1).tolist() == [False, False, True, True, False, True]


def capped_pairs(split, steps, k=2):
    """The kept rows of one person whose 5 rows lie in partitions ``split``, merged as the Dask pass does."""
    kept = []
    for step in range(steps):
        rows, priority = [], []
        for partition, part_rows in enumerate(split):
            order, starts = group_rows(np.zeros(len(part_rows), np.intp), 1)
            local, _, local_priority = person_step_rows(
                np.array([0]), order, starts, step=step, secret=6, partition=partition, max_rows_per_person=k
            )
            assert len(local) == min(k, len(part_rows))
            rows.append(np.asarray(part_rows)[local])
            priority.append(local_priority)
        rows, priority = np.concatenate(rows), np.concatenate(priority)
        kept.append(bitmask(rows[bottom_k(np.zeros(len(rows)), priority, k)]))
    return np.array(kept)


@pytest.mark.parametrize("split", [[[0, 1, 2, 3, 4]], [[0, 1, 2], [3, 4]], [[0], [1, 2, 3, 4]]])
def test_the_cap_keeps_a_uniform_subset_of_a_persons_rows_across_partitions(split):
    steps = 4000
    kept = capped_pairs(split, steps)
    pairs = [bitmask(pair) for pair in itertools.combinations(range(5), 2)]
    assert set(np.unique(kept)) <= set(pairs)
    observed = [np.sum(kept == pair) for pair in pairs]
    assert chi_square_p(observed, [steps / len(pairs)] * len(pairs)) > P_VALUE_FLOOR


def test_person_batches_bring_the_rows_of_their_sampled_persons():
    rng = np.random.default_rng(0)
    person_id = rng.integers(0, 300, size=2000)
    batches = PersonBatches(_persons(person_id.astype(str)), steps=20, sample_rate=0.1, secret=1)
    ids, code = person_codes(person_id)
    person, step = person_steps(ids, steps=20, sample_rate=0.1, secret=1)
    for t, batch in enumerate(batches):
        rows = np.unique(batch.rows.numpy()[batch.weight.numpy() > 0])
        sampled = batches.ids[batches.sample(t).person]
        assert set(sampled) == set(ids[person[step == t]])
        assert sorted(rows) == sorted(np.flatnonzero(np.isin(code, person[step == t])))
    assert len(batches) == 20


def test_person_batches_cap_rows_and_keep_persons_together():
    person_id = np.repeat(np.arange(500), np.arange(500) % 7 + 1)
    batches = PersonBatches(_persons(person_id), steps=10, sample_rate=0.2, secret=2, max_rows_per_person=3)
    for t in range(10):
        sample = batches.sample(t)
        assert np.all(np.bincount(sample.person) <= 3)
        assert np.all(np.diff(sample.person) >= 0), "rows are grouped by person"
        assert np.array_equal(person_id[sample.rows], batches.ids[sample.person].astype(int))
        assert len(np.unique(sample.rows)) == len(sample.rows)
        full = PersonBatches(_persons(person_id), steps=10, sample_rate=0.2, secret=2).sample(t)
        assert set(full.person) == set(sample.person)
        assert np.array_equal(np.bincount(sample.person), np.minimum(np.bincount(full.person), 3))


# Validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [-1, 1.5, "7", True, None])
def test_secret_must_be_a_non_negative_int(secret):
    with pytest.raises(ValueError, match=r"secret must be a non-negative int .*new_secret"):
        check_secret(secret)


@pytest.mark.parametrize(
    ("steps", "q", "match"),
    [(-1, 0.1, "steps must be"), (2.0, 0.1, "steps must be"), (5, 1.5, "sample_rate must be"), (5, "a", "sample_rate")],
)
def test_the_plan_is_checked(steps, q, match):
    with pytest.raises(ValueError, match=match):
        check_plan(steps, q)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="n_rows must be a non-negative int; got -3"):
        RowBatches(-3, steps=1, sample_rate=0.1, secret=0)
    with pytest.raises(ValueError, match="max_rows_per_person must be None or an int >= 1; got 0"):
        PersonBatches(_persons([1, 2]), steps=1, sample_rate=0.1, secret=0, max_rows_per_person=0)
