"""The cost of one Poisson batch: O(batch) sampling (sk_privattn.dpsgd._poisson) against Opacus' sampler.

Opacus' ``UniformWithReplacementSampler`` tosses one coin per row at every step, O(n);
``RowBatches`` draws a Binomial(n, q) size and a uniform subset of that size, O(n·q).
At person level, ``PersonBatches`` pays O(persons) once (a keyed hash per person) and
then O(rows of the sampled persons) per step, against ``steps`` coins per person.

Prints a table and writes it to ``--out`` (default: the "poisson_cost" section of
docs/benchmarks.md). It reports; it never asserts. Usage::

    python benchmarks/poisson_cost.py                      # n = 5,000,000, q = 1024 / n
    python benchmarks/poisson_cost.py --out /tmp/poisson.md
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from opacus.utils.uniform_sampler import UniformWithReplacementSampler

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import DOCS, command_line, machine_description, markdown_table, write_section  # noqa: E402

from sk_privattn.dpsgd._sampling import PersonBatches, RowBatches, person_index  # noqa: E402


def per_step_ms(batches, steps):
    """Mean milliseconds per step over ``steps`` steps, and the mean batch size (a person batch's
    rows without its padding)."""
    sizes = []
    start = time.perf_counter()
    for rows, _ in zip(batches, range(steps)):
        sizes.append(int((rows.weight > 0).sum()) if hasattr(rows, "weight") else len(rows))
    return 1e3 * (time.perf_counter() - start) / len(sizes), float(np.mean(sizes))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=DOCS)
    args = parser.parse_args()
    n, q = args.rows, args.batch / args.rows
    generator = torch.Generator().manual_seed(0)
    rows = []
    opacus = UniformWithReplacementSampler(num_samples=n, sample_rate=q, generator=generator, steps=20)
    rows.append(["rows, Opacus UniformWithReplacementSampler", f"{n:,}", f"{q:.3g}", *per_step_ms(opacus, 20), "-"])
    ours = RowBatches(n, steps=2000, sample_rate=q, secret=0)
    rows.append(["rows, RowBatches", f"{n:,}", f"{q:.3g}", *per_step_ms(ours, 2000), "-"])

    person_id = np.repeat(np.arange(args.persons), 5)
    p = args.batch / args.persons
    start = time.perf_counter()
    persons = PersonBatches(person_index(person_id, len(person_id)), steps=2000, sample_rate=p, secret=0,
                            max_rows_per_person=4)
    setup = time.perf_counter() - start
    rows.append(["persons (5 rows each, cap 4), PersonBatches", f"{args.persons:,} persons", f"{p:.3g}",
                 *per_step_ms(persons, 200), f"{setup:.2f}"])
    header = ["sampler", "n", "q", "ms per step", "mean batch (rows)", "setup s"]
    table = markdown_table(header, [[r[0], r[1], r[2], f"{r[3]:.3f}", f"{r[4]:.0f}", r[5]] for r in rows])
    text = f"{machine_description()}\n\n`{command_line('poisson_cost.py')}`\n\n{table}\n"
    print(text)
    print("written to", write_section("poisson_cost", text, path=args.out))


if __name__ == "__main__":
    main()
