"""Shared by the benchmarks: the machine they ran on, their section of docs/benchmarks.md, and the
scores of a classifier (ROC AUC and accuracy)."""

import os
import platform
import re
from datetime import date
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

_HEADER = """# Benchmarks

Every table on this page is written by a script in `benchmarks/`, which states the command and
the machine it ran on. The numbers are measured, never edited by hand; rerun the command to
reproduce them.
"""


def machine_description():
    """One line: CPU, cores, and the versions that matter for the timings."""
    import opacus
    import skorch
    import sklearn
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    device = "no GPU" if not torch.cuda.is_available() else torch.cuda.get_device_name(0)
    return (
        f"{cpu}, {os.cpu_count()} cores, {device}; Python {platform.python_version()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), opacus {opacus.__version__}, "
        f"skorch {skorch.__version__}, scikit-learn {sklearn.__version__}; {date.today().isoformat()}"
    )


def command_line(script, *arguments):
    """The command that ran this benchmark, with the thread limit it ran under, if any."""
    threads = os.environ.get("OMP_NUM_THREADS")
    prefix = f"OMP_NUM_THREADS={threads} " if threads else ""
    return " ".join([f"{prefix}python benchmarks/{script}", *arguments])


def write_section(name, text, path=DOCS):
    """Replace (or append) the section ``name`` of docs/benchmarks.md with ``text``."""
    path = Path(path)
    current = path.read_text() if path.exists() else _HEADER
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    if pattern.search(current):
        current = pattern.sub(lambda _: block, current)
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(current)
    return path


def markdown_table(header, rows):
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def classification_scores(model, X, y, classes):
    """``(ROC AUC, accuracy)`` of a fitted classifier on ``X, y``: the AUC of the positive class for
    two classes, the macro one-vs-rest AUC for more."""
    import numpy as np
    from sklearn.metrics import accuracy_score, roc_auc_score

    proba = model.predict_proba(X)
    if len(classes) == 2:
        auc = roc_auc_score(y, proba[:, 1])
    else:
        auc = roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
    return auc, accuracy_score(np.asarray(y), np.asarray(classes)[proba.argmax(axis=1)])
