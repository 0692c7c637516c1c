"""Write docs/api.md from the docstrings, so that the reference cannot drift from the code.

Usage: ``python docs/build_api.py``. ``tests/test_docs.py`` fails when docs/api.md differs
from what this script would write.
"""

import inspect
import re
import sys
from pathlib import Path

import sk_privattn
from sk_privattn import (
    BudgetExceededError,
    DPAttentionClassifier,
    DPAttentionRegressor,
    DPSequenceClassifier,
    PrivacyBudget,
    PrivacyLeakWarning,
    PrivacyLedger,
    PrivacyReport,
    privacy_report,
)
from sk_privattn.audit import MembershipInferenceResult, empirical_epsilon, membership_inference
from sk_privattn.model_selection import PrivateRandomSearch, selection_rdp
from sk_privattn.datasets import load_adult
from sk_privattn.privacy import calibrate_noise_multiplier, compute_epsilon, default_delta

API = Path(__file__).resolve().parent / "api.md"

ENTRIES = [
    ("Estimators", [DPAttentionClassifier, DPAttentionRegressor, DPSequenceClassifier]),
    ("Datasets", [load_adult]),
    ("Privacy accounting", [default_delta, compute_epsilon, calibrate_noise_multiplier]),
    ("Reporting, budgets and private selection", [privacy_report, PrivacyReport, PrivacyLedger, PrivacyBudget,
                                                  PrivateRandomSearch, selection_rdp]),
    ("Auditing", [membership_inference, MembershipInferenceResult, empirical_epsilon]),
    ("Warnings and errors", [PrivacyLeakWarning, BudgetExceededError]),
]
METHODS = ["fit", "predict", "predict_proba", "predict_log_proba", "decision_function", "score", "attention",
           "report", "to_frame"]


def _numpydoc_to_markdown(doc, level):
    """Numpydoc sections become headings, ``name : type`` entries bold terms, doctests code."""
    lines, out, i = inspect.cleandoc(doc).splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        if line.strip() and i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip()):
            out += [f"{'#' * level} {line.strip()}", ""]
            i += 2
            continue
        if line.startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out += ["```python", *block, "```"]
            continue
        entry = re.match(r"^(\w[\w, ]*) : (.+)$", line)
        if entry:
            out.append(f"- **`{entry.group(1)}`** : {entry.group(2)}")
        elif line.startswith("    ") and out and (out[-1].startswith("- ") or out[-1].startswith("  ")):
            out.append("  " + line.strip())
        else:
            out.append(line)
        i += 1
    return "\n".join(out)


def render():
    parts = [
        "# API reference",
        "",
        "Generated from the docstrings by `python docs/build_api.py`; do not edit by hand.",
        "",
    ]
    for title, objects in ENTRIES:
        parts += [f"## {title}", ""]
        for obj in objects:
            module = "sk_privattn" if hasattr(sk_privattn, obj.__name__) else obj.__module__.split("._")[0]
            name = f"{module}.{obj.__name__}"
            if inspect.isclass(obj) and not issubclass(obj, (Warning, Exception)):
                signature = str(inspect.signature(obj)).replace("(*, ", "(*,\n    ").replace(", ", ",\n    ")
                parts += [f"### `{obj.__name__}`", "", "```python", f"{name}{signature}", "```", ""]
                parts += [_numpydoc_to_markdown(obj.__doc__, 4), ""]
                parts += ["#### Methods", ""]
                for method in METHODS:
                    doc = getattr(getattr(obj, method, None), "__doc__", None)
                    if doc:
                        summary = inspect.cleandoc(doc).split("\n\n")[0].replace("\n", " ")
                        parts.append(f"- `{method}`: {summary}")
                parts.append("")
            else:
                signature = "" if inspect.isclass(obj) else str(inspect.signature(obj))
                parts += [f"### `{obj.__name__}`", "", "```python", f"{name}{signature}", "```", ""]
                parts += [_numpydoc_to_markdown(obj.__doc__, 4), ""]
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    API.write_text(render())
    print(f"wrote {API} (sk_privattn {sk_privattn.__version__})", file=sys.stderr)
