"""Speed of DP-SGD on UCI Adult: the private step against ordinary training, the default fit
against DP-EBM, and predict.

In one run, on the official Adult split, with the public bounds and categories of
`load_adult`:

1. One training step of the default model (Poisson batches of about 1,024 rows), four ways,
   interleaved round by round so that a load on the machine hits them alike: no clipping or
   noise; the book-keeping clipping that the estimators use (one backward pass, no per-sample
   gradient); Opacus' per-sample gradient hooks (the clipping before); Opacus' ghost
   clipping (``grad_sample_mode="ghost"``: per-sample norms without per-sample gradients, and
   a second backward pass). Median of the rounds.
2. The default ``DPAttentionClassifier`` fitted at ε = 1 and at ε = inf with the same seeds,
   one after the other, and at ε = 1 with Opacus' hooks; test accuracy and ROC AUC.
3. InterpretML's DP-EBM at ε = 1 with the same public metadata.
4. ``predict`` on the test split, input validation and encoding of the DataFrame included
   (best of 5), and the validation and encoding alone.

Prints the tables and writes them to docs/benchmarks.md (section "speed"). It reports; it
never asserts. Usage::

    python benchmarks/speed.py             # the full run (about 5 minutes on 2 idle cores)
    python benchmarks/speed.py --quick     # 5,000 rows, 1 seed, 2 epochs; does not write docs
"""

import argparse
import math
import sys
import time
import warnings
from functools import partial
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _baselines import fit_dp_ebm  # noqa: E402
from _data import adult_split  # noqa: E402
from _report import command_line, machine_description, markdown_table, write_section  # noqa: E402
from opacus.grad_sample import GradSampleHooks  # noqa: E402
from opacus.grad_sample.grad_sample_module_fast_gradient_clipping import (  # noqa: E402
    GradSampleModuleFastGradientClipping,
)
from opacus.optimizers import DPOptimizerFastGradientClipping  # noqa: E402
from opacus.utils.fast_gradient_clipping_utils import DPLossFastGradientClipping  # noqa: E402

from sk_privattn import DPAttentionClassifier, _training  # noqa: E402
from sk_privattn.dpsgd._clipping import BookKeepingClipper  # noqa: E402
from sk_privattn.dpsgd import RowWeightedDPOptimizer  # noqa: E402
from sk_privattn.privacy import default_delta  # noqa: E402

TARGETS = {
    "step: book-keeping / no clipping": 1.3,
    "fit: ε=1 / ε=inf": 1.3,
    "fit seconds at ε=1": 12.0,
    "accuracy at ε=1": 0.855,
    "ROC AUC at ε=1": 0.905,
    "predict rows/s": 200_000,
}

STEP_BATCH_SIZE = 1024


def _timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


# -- 1. one step, four ways ---------------------------------------------------------


def _step_functions(module_factory, inputs, target, generator):
    """The four training steps, each on its own copy of the module, on Poisson batches."""
    criterion = torch.nn.CrossEntropyLoss(reduction="none")
    n_rows = len(target)
    options = dict(noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=STEP_BATCH_SIZE)

    def batch():
        rows = torch.nonzero(torch.rand(n_rows, generator=generator) < STEP_BATCH_SIZE / n_rows).reshape(-1)
        return {name: tensor[rows] for name, tensor in inputs.items()}, target[rows]

    def adamw(module):
        return torch.optim.AdamW(module.parameters(), lr=0.01)

    def training_step(module, optimizer, loss_of, backward):
        def step():
            x, y = batch()
            optimizer.zero_grad()
            backward(loss_of(module(**x), y), len(y))
            optimizer.step()

        return step

    def mean_loss(output, y):
        return criterion(output, y).mean()

    def plain_backward(loss, n_rows):
        loss.backward()

    def non_private():
        module = module_factory()
        return training_step(module, adamw(module), mean_loss, plain_backward)

    def bookkeeping():
        module = module_factory()
        clipper = BookKeepingClipper(module, max_grad_norm=1.0)

        def backward(loss, n_rows):
            clipper.backward(loss, batch_size=n_rows)

        optimizer = DPOptimizerFastGradientClipping(adamw(module), **options)
        return training_step(module, optimizer, mean_loss, backward)

    def opacus_hooks():
        module = module_factory()
        GradSampleHooks(module, batch_first=True, loss_reduction="mean")
        return training_step(module, RowWeightedDPOptimizer(adamw(module), **options), mean_loss, plain_backward)

    def opacus_ghost():
        module = GradSampleModuleFastGradientClipping(module_factory(), max_grad_norm=1.0, use_ghost_clipping=True)
        optimizer = DPOptimizerFastGradientClipping(adamw(module), **options)
        # Opacus' loss wrapper runs both backward passes.
        loss = DPLossFastGradientClipping(module, optimizer, torch.nn.CrossEntropyLoss(), loss_reduction="mean")
        return training_step(module, optimizer, loss, plain_backward)

    return {
        "no clipping or noise": non_private(),
        "book-keeping clipping (default)": bookkeeping(),
        "Opacus per-sample gradient hooks": opacus_hooks(),
        "Opacus ghost clipping": opacus_ghost(),
    }


def time_steps(X, y, public, rounds, steps_per_round):
    clf = DPAttentionClassifier(**public, random_state=0)
    inputs, y_valid, attributes, _ = clf._fit_inputs(X, y, None)
    target = torch.as_tensor(np.asarray(y_valid) == 1, dtype=torch.long)

    def module_factory():
        torch.manual_seed(0)
        return clf._build_module(attributes, 2).train()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        steps = _step_functions(module_factory, inputs, target, torch.Generator().manual_seed(0))
        for step in steps.values():
            step()  # warm up
        seconds = {name: [] for name in steps}
        for _ in range(rounds):
            for name, step in steps.items():
                _, elapsed = _timed(lambda: [step() for _ in range(steps_per_round)])
                seconds[name].append(elapsed / steps_per_round)
    return {name: float(np.median(values)) for name, values in seconds.items()}


# -- 2. to 4. fits and predict ------------------------------------------------------


def _fit(X, y, test, *, clipping="auto", **params):
    clf = DPAttentionClassifier(**params)
    train = partial(_training.train_module, clipping=clipping)
    with mock.patch.object(_training, "train_module", train):
        _, seconds = _timed(lambda: clf.fit(X, y))
    scores = clf.predict_proba(test.data)[:, 1]
    return {
        "seconds": seconds,
        "accuracy": clf.score(test.data, test.target),
        "auc": roc_auc_score(test.target, scores),
        "epsilon": clf.epsilon_,
        "clf": clf,
    }


def _best_rate(function, n_rows, repeats=5):
    return n_rows / min(_timed(function)[1] for _ in range(repeats))


def run(seeds, n_rows=None, max_epochs=None, rounds=7, steps_per_round=5):
    train, X, y, test = adult_split(n_rows)
    public = dict(bounds=train.bounds, categories=train.categories, classes=train.classes)
    steps = time_steps(X, y, public, rounds, steps_per_round)
    for name, seconds in steps.items():
        print(f"step, {name}: {1000 * seconds:.1f} ms", flush=True)

    settings = {"max_epochs": max_epochs} if max_epochs is not None else {}
    fits = {"ε = 1": [], "ε = inf": [], "ε = 1, Opacus hooks": []}
    for seed in seeds:
        options = dict(public, random_state=seed, **settings)
        fits["ε = 1"].append(_fit(X, y, test, epsilon=1.0, **options))
        fits["ε = inf"].append(_fit(X, y, test, epsilon=math.inf, **options))
        fits["ε = 1, Opacus hooks"].append(_fit(X, y, test, epsilon=1.0, clipping="opacus", **options))
        for name, results in fits.items():
            result = results[-1]
            print(f"fit {name}, seed {seed}: {result['seconds']:.1f} s, accuracy {result['accuracy']:.4f}, "
                  f"ROC AUC {result['auc']:.4f}", flush=True)
    ebm = []
    for seed in seeds:
        model = fit_dp_ebm(X, y, epsilon=1.0, delta=default_delta(len(X)), random_state=seed,
                           bounds=public["bounds"], categories=public["categories"])
        scores = model.predict_proba(test.data)[:, 1]
        ebm.append({"seconds": model.fit_seconds_, "accuracy": model.score(test.data, test.target),
                    "auc": roc_auc_score(test.target, scores), "epsilon": 1.0})
        print(f"DP-EBM seed {seed}: {model.fit_seconds_:.1f} s, accuracy {ebm[-1]['accuracy']:.4f}", flush=True)
    fits["DP-EBM (InterpretML), ε = 1"] = ebm

    clf = fits["ε = 1"][-1]["clf"]
    predict = {
        "predict rows/s": _best_rate(lambda: clf.predict(test.data), len(test.data)),
        "validation and encoding alone, rows/s": _best_rate(lambda: clf._transform_inputs(test.data), len(test.data)),
    }
    return steps, fits, predict, len(X), len(test.data)


def _mean_sd(values, digits=4):
    values = np.asarray(values, dtype=float)
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.{digits}f} ± {sd:.{digits}f}"


def report(steps, fits, predict, n_train, n_test, n_seeds, command):
    base = steps["no clipping or noise"]
    step_rows = [(name, f"{1000 * seconds:.1f}", f"{seconds / base:.2f}") for name, seconds in steps.items()]
    step_table = markdown_table(["training step", "ms per step (median)", "× no clipping"], step_rows)
    fit_rows = [
        (name, _mean_sd([r["seconds"] for r in results], 1), _mean_sd([r["accuracy"] for r in results]),
         _mean_sd([r["auc"] for r in results]))
        for name, results in fits.items()
    ]
    fit_table = markdown_table(["model", "fit seconds", "test accuracy", "test ROC AUC"], fit_rows)

    def mean(name, key):
        return float(np.mean([r[key] for r in fits[name]]))

    measured = {
        "step: book-keeping / no clipping": steps["book-keeping clipping (default)"] / base,
        "fit: ε=1 / ε=inf": mean("ε = 1", "seconds") / mean("ε = inf", "seconds"),
        "fit seconds at ε=1": mean("ε = 1", "seconds"),
        "accuracy at ε=1": mean("ε = 1", "accuracy"),
        "ROC AUC at ε=1": mean("ε = 1", "auc"),
        "predict rows/s": predict["predict rows/s"],
    }
    target_rows = []
    for name, goal in TARGETS.items():
        value = measured[name]
        higher_is_better = name.startswith(("accuracy", "ROC", "predict"))
        met = value >= goal if higher_is_better else value <= goal
        shown = f"{value:,.0f}" if name == "predict rows/s" else f"{value:.4f}" if higher_is_better else f"{value:.2f}"
        target_rows.append((name, shown, ("≥ " if higher_is_better else "≤ ") + f"{goal:,}", "met" if met else "**not met**"))
    target_table = markdown_table(["target", "measured", "goal", ""], target_rows)
    predict_rows = [(name, f"{value:,.0f}") for name, value in predict.items()]
    return f"""## Speed: DP-SGD against ordinary training, and the fit against DP-EBM (UCI Adult)

Command: `{command}`

Machine: {machine_description()}

Data: {n_train:,} training and {n_test:,} test rows of the official split, the public bounds and
categories of `load_adult`.

One training step of the default model (Poisson batches of about {STEP_BATCH_SIZE:,} rows, AdamW),
four ways, interleaved round by round. Book-keeping clipping forms each row's clipped gradient
sum in the one backward pass (`sk_privattn/_clipping.py`); Opacus' hooks materialise one
gradient per row and parameter; Opacus' ghost clipping computes the norms without them, then
runs a second backward pass.

{step_table}

The default `DPAttentionClassifier`, {n_seeds} seed(s), the ε = 1 and ε = inf fits of a seed one
after the other (mean ± sd over seeds). DP-EBM gets the same public metadata (its private binning
takes no missing value: a missing category becomes "missing").

{fit_table}

{markdown_table(["predict on the test split (best of 5)", "rows/s"], predict_rows)}

{target_table}
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="5,000 rows, 1 seed, 2 epochs; does not write docs")
    parser.add_argument("--no-docs", action="store_true", help="print the tables only")
    args = parser.parse_args(argv)
    command = command_line(
        "speed.py", *(["--quick"] if args.quick else []), *([f"--seeds {args.seeds}"] if args.seeds != 3 else [])
    )
    if args.quick:
        results = run([0], n_rows=5000, max_epochs=2, rounds=3, steps_per_round=2)
        n_seeds = 1
    else:
        results = run(list(range(args.seeds)))
        n_seeds = args.seeds
    text = report(*results, n_seeds=n_seeds, command=command)
    print("\n" + text)
    if not (args.quick or args.no_docs):
        print(f"written to {write_section('speed', text)}")


if __name__ == "__main__":
    main()
