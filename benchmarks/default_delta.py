"""What the default δ under a DP count costs, and why a δ computed from the count would not hold.

Two tables, both computed (no training), written into docs/privacy.md (section
"default_delta"):

1. the mean of ``1 / (10 count)`` over the noise of the DP count (the δ at which the whole
   release would hold if ``delta_`` were computed from the count, as before issue 32), as a
   multiple of ``1 / (10 n)``: exactly, by summing the discrete Laplace distribution of the
   count (``release_count``: ``n + Z``, raised to at least ``MIN_DP_COUNT``);
2. the noise multiplier of the default plan (``batch_size="auto"``, ``max_epochs="auto"``,
   the PLD accountant, the DP count's 2 % of ε taken off) at δ = 1/(10 n) and at the
   constant ``DEFAULT_DELTA``.

It reports; it never asserts. Usage::

    python benchmarks/default_delta.py
"""

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import command_line, markdown_table, write_section  # noqa: E402

from sk_privattn.privacy import COUNT_EPSILON_SHARE, DEFAULT_DELTA, MIN_DP_COUNT, DPCount, plan_training  # noqa: E402

PRIVACY_DOCS = Path(__file__).resolve().parent.parent / "docs" / "privacy.md"
MEAN_CASES = [(0.1, 300), (0.1, 1_000), (0.1, 3_000), (0.1, 32_561), (1.0, 300), (1.0, 1_000), (1.0, 3_000),
              (1.0, 32_561), (8.0, 1_000)]
SIZES = (1_000, 2_000, 32_561, 1_000_000)
EPSILONS = (1.0, 8.0)


def mean_delta_factor(n, epsilon):
    """E[n / count] for the DP count of ``n`` rows at the fit's ``epsilon``: the mean of
    ``1 / (10 count)`` in units of ``1 / (10 n)``, summed over the count's distribution."""
    count_epsilon = COUNT_EPSILON_SHARE * epsilon
    a = math.exp(-count_epsilon)
    reach = int(60 / count_epsilon)  # the mass beyond is below exp(-60)
    noise = np.arange(-reach, reach + 1)
    probability = (1 - a) / (1 + a) * a ** np.abs(noise)
    count = np.maximum(MIN_DP_COUNT, n + noise)
    return float(np.sum(probability * n / count)), float(probability.sum())


def noise_multiplier(n, epsilon, delta):
    count = DPCount(n, COUNT_EPSILON_SHARE * epsilon)
    return plan_training(count, epsilon=epsilon, delta=delta, batch_size="auto", epochs="auto",
                         accountant="auto").noise_multiplier


def main():
    mean_rows = []
    for epsilon, n in MEAN_CASES:
        factor, mass = mean_delta_factor(n, epsilon)
        mean_rows.append((f"{epsilon:g}", f"{n:,}", f"{COUNT_EPSILON_SHARE * epsilon:g}", f"{factor:.4f}",
                          f"{1 - mass:.1e}"))
    noise_rows = []
    for epsilon in EPSILONS:
        for n in SIZES:
            public = 1 / (10 * n)
            ours, theirs = noise_multiplier(n, epsilon, public), noise_multiplier(n, epsilon, DEFAULT_DELTA)
            noise_rows.append((f"{epsilon:g}", f"{n:,}", f"{public:.3g}", f"{ours:.3f}", f"{DEFAULT_DELTA:g}",
                               f"{theirs:.3f}", f"{100 * (theirs / ours - 1):+.1f} %"))
    text = "\n\n".join([
        "The mean of 1/(10·count) over the DP count's noise, in units of 1/(10·n) (summed exactly over "
        "the discrete Laplace distribution of the count, over ±60/ε_c around n; the last column is what the "
        "summed probabilities miss of 1, float rounding included):",
        markdown_table(["ε", "n", "ε of the count", "E[n / count]", "1 − summed probability"], mean_rows),
        "The noise multiplier of the default plan (batch size and epochs \"auto\", PLD, the DP count's "
        "2 % of ε taken off, the count at n) at δ = 1/(10·n) and at the constant default:",
        markdown_table(["ε", "n", "δ = 1/(10·n)", "noise multiplier", "δ", "noise multiplier",
                        "change"], noise_rows),
        f"Command: `{command_line('default_delta.py')}` (no training; a few seconds).",
    ])
    print(text)
    write_section("default_delta", text, path=PRIVACY_DOCS)


if __name__ == "__main__":
    main()
