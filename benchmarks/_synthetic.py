"""A synthetic table of 20 numeric and 2 categorical columns with interactions, as large as asked.

The rows come in blocks of ``BLOCK_ROWS``, each drawn from its own seed ``(seed, block)``, so
that a table of n rows is the first n rows of any larger one, and a Parquet directory (one
file per block, :func:`write_parquet`) holds the same rows as the table in memory. The
target is a logistic model of the numeric columns, a numeric interaction (``x0 * x1``), an
effect per category of ``region`` and an interaction of ``sector`` with ``x2``; about 40 % of
the rows are positive. The public metadata (:func:`metadata`) is the schema's, not the rows'.
The benchmarks import it with the benchmarks folder on ``sys.path``::

    from _synthetic import make_table
"""

from pathlib import Path

import numpy as np
import pandas as pd

BLOCK_ROWS = 1_000_000
N_NUMERIC = 20
REGIONS = [f"r{index:02d}" for index in range(12)]
SECTORS = [f"s{index:02d}" for index in range(40)]
NUMERIC = [f"x{index}" for index in range(N_NUMERIC)]


def _effects():
    rng = np.random.default_rng(12345)  # the population: fixed whatever the rows' seed
    return {
        "weights": rng.normal(0.0, 0.6, N_NUMERIC) * (rng.random(N_NUMERIC) < 0.6),
        "region": rng.normal(0.0, 0.8, len(REGIONS)),
        "sector_slope": rng.normal(0.0, 1.2, len(SECTORS)),
    }


def _block(seed, block, n_rows):
    rng = np.random.default_rng([seed, block])
    effects = _effects()
    x = rng.normal(0.0, 1.0, (n_rows, N_NUMERIC)).astype(np.float32)
    region = rng.integers(0, len(REGIONS), n_rows)
    sector = rng.integers(0, len(SECTORS), n_rows)
    logit = (x @ effects["weights"] + 1.2 * x[:, 0] * x[:, 1] + effects["region"][region]
             + effects["sector_slope"][sector] * x[:, 2] - 0.4)
    y = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    frame = pd.DataFrame(x, columns=NUMERIC)
    frame["region"] = pd.Categorical.from_codes(region, REGIONS)
    frame["sector"] = pd.Categorical.from_codes(sector, SECTORS)
    frame["y"] = y
    return frame


def make_table(n_rows, seed=0):
    """``(X, y)``: the first ``n_rows`` rows of the table of ``seed``."""
    blocks = [_block(seed, block, min(BLOCK_ROWS, n_rows - start))
              for block, start in enumerate(range(0, n_rows, BLOCK_ROWS))]
    frame = pd.concat(blocks, ignore_index=True) if len(blocks) > 1 else blocks[0]
    return frame.drop(columns="y"), frame["y"].to_numpy()


def write_parquet(folder, n_rows, seed=0):
    """The first ``n_rows`` rows of the table of ``seed`` as Parquet files of ``BLOCK_ROWS`` rows
    (uncompressed; ``y`` a column) in ``folder``; a folder that holds them already is kept."""
    folder = Path(folder)
    done = folder / "_complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for block, start in enumerate(range(0, n_rows, BLOCK_ROWS)):
        frame = _block(seed, block, min(BLOCK_ROWS, n_rows - start))
        frame.to_parquet(folder / f"part-{block:05d}.parquet", index=False, compression=None)
    done.touch()
    return folder


def metadata():
    """The public bounds, categories and classes of the schema."""
    return {
        "bounds": (-5.0, 5.0),
        "categories": {"region": REGIONS, "sector": SECTORS},
        "categorical_features": ["region", "sector"],
        "classes": [0, 1],
    }
