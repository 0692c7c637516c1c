"""Where the time goes in a fit of DPAttentionClassifier on UCI Adult.

One fit each, in one process, of the default classifier at ε = 1 with the book-keeping
clipping (the default), at ε = 1 with Opacus' per-sample gradient hooks, and at ε = inf (no
clipping, no noise). Each phase is timed exclusively (a phase inside another is not counted
twice): input validation and encoding, the noise calibration, the data loader, the forward
pass, the loss, the backward pass, the per-sample gradients (Opacus' hooks) or the per-sample
norms and the clipped sums (book-keeping), the noise, the optimizer, the accountant, skorch's
per-batch bookkeeping (callbacks) and the ε recorded after each epoch. The rest (Python and
skorch's loop) is "other". Prints a table and writes it to docs/benchmarks.md (section
"profile"); it reports, it never asserts. Usage::

    python benchmarks/profile_fit.py            # the full fits (about 2 minutes on 2 idle cores)
    python benchmarks/profile_fit.py --quick    # 2 epochs on 5,000 rows; does not write docs
"""

import argparse
import math
import sys
import time
import warnings
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from unittest import mock


sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import adult_split  # noqa: E402
from _report import command_line, machine_description, markdown_table, write_section  # noqa: E402
from opacus.grad_sample import GradSampleHooks  # noqa: E402
from opacus.optimizers import DPOptimizer  # noqa: E402

import sk_privattn._base  # noqa: E402
from sk_privattn import DPAttentionClassifier, _clipping, _dpsgd, _training  # noqa: E402
from sk_privattn.nn import FTTransformer  # noqa: E402


class ExclusiveTimers:
    """Seconds spent in each phase, a phase nested in another counted once."""

    def __init__(self):
        self.seconds = {}
        self._stack = []  # [phase, start, seconds of nested phases]

    def wrap(self, function, phase):
        def timed(*args, **kwargs):
            frame = [phase, time.perf_counter(), 0.0]
            self._stack.append(frame)
            try:
                return function(*args, **kwargs)
            finally:
                self._stack.pop()
                elapsed = time.perf_counter() - frame[1]
                self.seconds[phase] = self.seconds.get(phase, 0.0) + elapsed - frame[2]
                if self._stack:
                    self._stack[-1][2] += elapsed

        return timed

    def patch(self, stack, owner, name, phase):
        stack.enter_context(mock.patch.object(owner, name, self.wrap(getattr(owner, name), phase)))


class _TimedLoader:
    """The training loader, each of its batches timed."""

    def __init__(self, loader, timed_next):
        self._loader = loader
        self._next = timed_next

    def __iter__(self):
        iterator = iter(self._loader)
        while True:
            try:
                yield self._next(iterator)
            except StopIteration:
                return


#: (phase, where it is measured), in the order of a step.
PHASES = [
    ("input validation and encoding", "the estimator's `_fit_inputs`"),
    ("noise calibration (plan)", "`plan_training`: the noise multiplier for ε"),
    ("data loader", "Poisson sampling of a batch and indexing of its rows"),
    ("forward", "the module's forward pass (with the hooks' recording)"),
    ("loss", "the criterion, averaged over the batch"),
    ("backward", "autograd: `loss.backward()`, or the output gradients of the layers"),
    ("per-sample gradients", "Opacus' hooks: one gradient per row and parameter"),
    ("per-sample norms", "book-keeping: each row's gradient norm, layer by layer"),
    ("clipping and sum", "the clip factors and the clipped, weighted sum"),
    ("noise", "Gaussian noise added to the sum, scaled by the expected batch size"),
    ("optimizer", "AdamW's step and zero_grad"),
    ("accountant", "the accountant's record of the step"),
    ("skorch callbacks", "skorch's `notify` per batch and epoch (LR schedule, progress)"),
    ("ε per epoch", "the accountant's ε after each epoch, for `history_`"),
]


def _profiled_fit(clf, X, y, clipping):
    timers = ExclusiveTimers()

    def timed_next(iterator):
        return next(iterator)

    timed_next = timers.wrap(timed_next, "data loader")
    original_get_iterator = _training._PrivateNet.get_iterator

    def get_iterator(net, dataset, training=False):
        iterator = original_get_iterator(net, dataset, training)
        return _TimedLoader(iterator, timed_next) if training else iterator

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(_training._PrivateNet, "get_iterator", get_iterator))
        stack.enter_context(
            mock.patch.object(_training, "train_module", partial(_training.train_module, clipping=clipping))
        )
        timers.patch(stack, type(clf), "_fit_inputs", "input validation and encoding")
        timers.patch(stack, sk_privattn._base, "plan_training", "noise calibration (plan)")
        timers.patch(stack, FTTransformer, "forward", "forward")
        timers.patch(stack, _training._PrivateNet, "get_loss", "loss")
        timers.patch(stack, _training._PrivateNet, "notify", "skorch callbacks")
        timers.patch(stack, _training._RecordEpsilon, "on_epoch_end", "ε per epoch")
        # The DP step.
        timers.patch(stack, _training.torch.Tensor, "backward", "backward")
        timers.patch(stack, _clipping.torch.autograd, "grad", "backward")
        timers.patch(stack, GradSampleHooks, "capture_activations_hook", "per-sample gradients")
        timers.patch(stack, GradSampleHooks, "capture_backprops_hook", "per-sample gradients")
        rules = {layer: (read, timers.wrap(norms, "per-sample norms"), timers.wrap(total, "clipping and sum"))
                 for layer, (read, norms, total) in _clipping._RULES.items()}
        stack.enter_context(mock.patch.dict(_clipping._RULES, rules))
        timers.patch(stack, DPOptimizer, "clip_and_accumulate", "clipping and sum")
        timers.patch(stack, _dpsgd._NoiseDrawnOnCPU, "add_noise", "noise")
        timers.patch(stack, DPOptimizer, "scale_grad", "noise")
        for name in ("step", "zero_grad"):
            for optimizer in (_training.torch.optim.AdamW,):
                timers.patch(stack, optimizer, name, "optimizer")
        from opacus.accountants import PRVAccountant, RDPAccountant

        for accountant in (PRVAccountant, RDPAccountant):
            timers.patch(stack, accountant, "step", "accountant")
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, y)
        total = time.perf_counter() - start
    return timers.seconds, total


def run(n_rows=None, max_epochs=None):
    train, X, y, test = adult_split(n_rows)
    options = dict(bounds=train.bounds, categories=train.categories, classes=train.classes, random_state=0)
    if max_epochs is not None:
        options["max_epochs"] = max_epochs
    fits = [
        ("ε = 1, book-keeping clipping (default)", dict(epsilon=1.0), "auto"),
        ("ε = 1, Opacus' per-sample gradient hooks", dict(epsilon=1.0), "opacus"),
        ("ε = inf (no clipping, no noise)", dict(epsilon=math.inf), "auto"),
    ]
    columns = []
    for name, params, clipping in fits:
        clf = DPAttentionClassifier(**options, **params)
        seconds, total = _profiled_fit(clf, X, y, clipping)
        accuracy = clf.score(test.data, test.target)
        print(f"{name}: {total:.1f} s, {clf.n_steps_} steps, test accuracy {accuracy:.4f}", flush=True)
        columns.append((name, seconds, total, clf.n_steps_))
    return columns, len(X)


def report(columns, n_rows, command):
    header = ["phase", "measured in"] + [name for name, *_ in columns]
    rows = []
    for phase, where in PHASES:
        cells = []
        for _, seconds, total, _ in columns:
            value = seconds.get(phase, 0.0)
            cells.append(f"{value:.2f} s ({100 * value / total:.0f} %)" if value else "–")
        rows.append([phase, where] + cells)
    other = [total - sum(seconds.values()) for _, seconds, total, _ in columns]
    rows.append(["other", "Python and skorch's training loop, module building, unwrapping"]
                + [f"{value:.2f} s ({100 * value / total:.0f} %)" for value, (_, _, total, _) in zip(other, columns)])
    rows.append(["**whole fit**", ""] + [f"**{total:.2f} s**" for _, _, total, _ in columns])
    rows.append(["steps", ""] + [str(steps) for *_, steps in columns])
    table = markdown_table(header, rows)
    return f"""## Where the time of a fit goes (UCI Adult, defaults)

Command: `{command}`

Machine: {machine_description()}

`DPAttentionClassifier` with its defaults and the public bounds and categories of `load_adult`,
fitted on {n_rows:,} training rows, one fit per column, one after the other in one process. Each phase is
timed exclusively (a phase nested in another is counted once), by wrapping the functions named
in "measured in"; the wrappers add a little time of their own, counted in the phases.

{table}
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs on 5,000 rows; does not write docs")
    parser.add_argument("--no-docs", action="store_true", help="print the tables only")
    args = parser.parse_args(argv)
    command = command_line("profile_fit.py", *(["--quick"] if args.quick else []))
    columns, n_rows = run(n_rows=5000, max_epochs=2) if args.quick else run()
    text = report(columns, n_rows, command)
    print("\n" + text)
    if not (args.quick or args.no_docs):
        print(f"written to {write_section('profile', text)}")


if __name__ == "__main__":
    main()
