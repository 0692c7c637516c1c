"""The UCI Adult split that the benchmarks train and test on. The benchmarks import it
with the benchmarks folder on ``sys.path``::

    from _data import adult_split
"""

import numpy as np

from sk_privattn.datasets import load_adult


def adult_split(n_rows=None):
    """The official Adult split, as DataFrames.

    Parameters
    ----------
    n_rows : int, default=None
        Keep this many training rows, drawn at random (seed 0); all when ``None``.

    Returns
    -------
    train : Bunch
        ``load_adult(subset="train", as_frame=True)``: its ``bounds`` and ``categories`` are
        the public metadata.
    X, y : DataFrame and Series
        The training rows kept.
    test : Bunch
        ``load_adult(subset="test", as_frame=True)``.
    """
    train = load_adult(subset="train", as_frame=True)
    test = load_adult(subset="test", as_frame=True)
    X, y = train.data, train.target
    if n_rows is not None:
        rows = np.random.RandomState(0).permutation(len(X))[:n_rows]
        X, y = X.iloc[rows], y.iloc[rows]
    return train, X, y, test
