"""A synthetic census-like table, as large as asked, with a learnable binary target.

40 columns in the mix of a person-level census extract: 16 numeric (ages, hours, skewed
amounts that are mostly zero, counts), with some values missing, and 24 categorical, from
2 to 3,000 categories, whose frequencies fall off as in real codes (a few counties hold
most people). The target ("high income") depends on numeric effects (some non-linear), on
an effect per category (a county's effect is its state's plus its own), and on one
interaction; about a quarter of the rows are positive. The effects are fixed by
``population_seed``, the rows by ``seed``: tables drawn with different ``seed`` come from
the same population (a training and a test set). The benchmarks import it with the
benchmarks folder on ``sys.path``::

    from _census import make_census

Everything that the public metadata holds (bounds, category lists) comes from the schema
below, not from the rows, as a statistics office publishes it.
"""

import numpy as np
import pandas as pd

#: name -> (low, high, how the values are drawn)
NUMERIC = {
    "age": (16, 95, "age"),
    "hours_per_week": (0, 99, "hours"),
    "weeks_worked": (0, 52, "weeks"),
    "years_of_schooling": (0, 20, "schooling"),
    "wage_income": (0, 1_000_000, "lognormal_or_zero"),
    "self_employment_income": (0, 1_000_000, "sparse_amount"),
    "capital_gain": (0, 100_000, "sparse_amount"),
    "capital_loss": (0, 5_000, "sparse_amount"),
    "dividends": (0, 200_000, "sparse_amount"),
    "property_value": (0, 5_000_000, "lognormal_or_zero"),
    "monthly_rent": (0, 10_000, "lognormal_or_zero"),
    "household_size": (1, 20, "count"),
    "children": (0, 12, "count"),
    "commute_minutes": (0, 200, "hours"),
    "years_at_address": (0, 80, "weeks"),
    "survey_weight": (1, 3_000, "lognormal_or_zero"),
}

#: name -> number of categories (the codes of a real census: states, counties, occupations, ...)
CATEGORICAL = {
    "sex": 2,
    "race": 9,
    "hispanic_origin": 24,
    "marital_status": 5,
    "relationship": 18,
    "education": 24,
    "class_of_worker": 9,
    "citizenship": 5,
    "state": 52,
    "county": 3_000,
    "place_of_work_state": 56,
    "occupation": 530,
    "industry": 270,
    "place_of_birth": 230,
    "ancestry": 300,
    "language": 120,
    "field_of_degree": 180,
    "tenure": 4,
    "vehicles": 7,
    "disability": 2,
    "veteran_period": 12,
    "school_enrollment": 3,
    "health_insurance": 8,
    "means_of_transport": 12,
}

#: Columns with missing values, and the share missing.
MISSING = {"wage_income": 0.05, "property_value": 0.08, "commute_minutes": 0.3, "field_of_degree": 0.6, "ancestry": 0.1}


def census_metadata():
    """The public bounds and category lists of the table: ``{"bounds": ..., "categories": ...}``."""
    bounds = {name: (float(low), float(high)) for name, (low, high, _) in NUMERIC.items()}
    categories = {name: [f"{name}_{code:04d}" for code in range(size)] for name, size in CATEGORICAL.items()}
    return {"bounds": bounds, "categories": categories}


def _zipf_codes(rng, size, n_rows):
    """Codes 0..size-1 whose frequencies fall off as 1 / (rank + 2)."""
    weights = 1.0 / (np.arange(size) + 2.0)
    order = rng.permutation(size)  # the frequent codes are spread over the list
    cumulative = np.cumsum(weights[order] / weights.sum())
    return np.minimum(np.searchsorted(cumulative, rng.random_sample(n_rows)), size - 1).astype(np.int16)


def _numeric(rng, kind, low, high, n_rows):
    if kind == "age":
        values = rng.gamma(6.0, 7.0, n_rows) + 16
    elif kind == "hours":
        values = np.where(rng.random_sample(n_rows) < 0.3, 0, rng.normal(40, 12, n_rows))
    elif kind == "weeks":
        values = np.where(rng.random_sample(n_rows) < 0.25, rng.randint(0, 52, n_rows), 52)
    elif kind == "schooling":
        values = rng.normal(13, 3, n_rows).round()
    elif kind == "lognormal_or_zero":
        values = np.where(rng.random_sample(n_rows) < 0.2, 0, rng.lognormal(np.log(high) - 5, 1.0, n_rows))
    elif kind == "sparse_amount":
        values = np.where(rng.random_sample(n_rows) < 0.92, 0, rng.lognormal(np.log(high) - 4, 1.2, n_rows))
    else:  # count
        values = rng.poisson(1.5, n_rows) + low
    return np.clip(values, low, high)


def _effects(population_seed):
    """The population: a coefficient per numeric column and an effect per category."""
    rng = np.random.RandomState(population_seed)
    numeric = {name: rng.normal(0, 0.6) for name in NUMERIC}
    scale = {name: (0.8 if size < 30 else 0.5) for name, size in CATEGORICAL.items()}
    categorical = {name: rng.normal(0, scale[name], size) for name, size in CATEGORICAL.items()}
    # A county's effect is its state's, plus its own: high-cardinality codes share strength.
    county_state = rng.randint(0, CATEGORICAL["state"], CATEGORICAL["county"])
    categorical["county"] = categorical["state"][county_state] + rng.normal(0, 0.3, CATEGORICAL["county"])
    interaction = rng.normal(0, 0.8, (CATEGORICAL["occupation"],))
    return numeric, categorical, county_state, interaction


def make_census(n_rows, *, seed=0, population_seed=2024):
    """Draw ``n_rows`` people of the synthetic census.

    Parameters
    ----------
    n_rows : int
    seed : int, default=0
        The rows drawn.
    population_seed : int, default=2024
        The effects that make the target: the same for a training and a test set.

    Returns
    -------
    X : DataFrame of shape (n_rows, 40)
        Numeric columns as float64 (NaN where missing), categorical ones as pandas
        categoricals over the public category lists (NaN where missing).
    y : ndarray of shape (n_rows,)
        1 for "high income", about a quarter of the rows.
    """
    numeric_effect, categorical_effect, county_state, interaction = _effects(population_seed)
    rng = np.random.RandomState(seed)
    metadata = census_metadata()
    columns, logit = {}, np.zeros(n_rows)
    for name, (low, high, kind) in NUMERIC.items():
        values = _numeric(rng, kind, low, high, n_rows)
        standardised = np.log1p(values - low) / np.log1p(high - low) * 4 - 2
        logit += numeric_effect[name] * standardised
        columns[name] = values
    codes = {}
    for name, size in CATEGORICAL.items():
        codes[name] = _zipf_codes(rng, size, n_rows)
    codes["state"] = county_state[codes["county"]].astype(np.int16)  # counties lie in their state
    for name, size in CATEGORICAL.items():
        logit += categorical_effect[name][codes[name]]
        columns[name] = pd.Categorical.from_codes(codes[name], categories=metadata["categories"][name])
    # Age matters most in mid-career; schooling pays more in some occupations.
    age = columns["age"]
    logit += -((age - 48) / 15) ** 2 + 1.0
    logit += interaction[codes["occupation"]] * (columns["years_of_schooling"] - 13) / 3
    logit += -np.quantile(logit, 0.75)  # about a quarter positive
    y = (rng.random_sample(n_rows) < 1 / (1 + np.exp(-2 * logit))).astype(np.int64)
    for name, share in MISSING.items():
        missing = rng.random_sample(n_rows) < share
        if name in NUMERIC:
            columns[name] = np.where(missing, np.nan, columns[name])
        else:
            column_codes = codes[name].copy()
            column_codes[missing] = -1
            columns[name] = pd.Categorical.from_codes(column_codes, categories=metadata["categories"][name])
    X = pd.DataFrame({name: columns[name] for name in [*NUMERIC, *CATEGORICAL]})
    return X, y
