"""The documentation matches the code, its examples run, the site builds, and the main command runs."""

import importlib
import inspect
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from sk_privattn import DPAttentionClassifier, DPAttentionRegressor, DPSequenceClassifier, PrivacyLeakWarning
from sk_privattn._base import BaseDPEstimator
from sk_privattn.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


PRIVACY_ATTRIBUTES = ["n_features_in_", "feature_names_in_", "epsilon_", "delta_", "neighbouring_", "privacy_unit_",
                      "count_", "count_epsilon_", "accountant_", "noise_multiplier_", "sample_rate_", "batch_size_",
                      "max_epochs_", "n_steps_", "accountant_history_", "history_", "module_", "net_"]
TABULAR_ATTRIBUTES = ["is_categorical_", "bounds_", "categories_"]


@pytest.mark.parametrize(
    "estimator, own_attributes",
    [
        (DPAttentionClassifier, ["classes_", "class_weight_", *TABULAR_ATTRIBUTES]),
        (DPAttentionRegressor, ["target_bounds_", *TABULAR_ATTRIBUTES]),
        (DPSequenceClassifier, ["classes_", "class_weight_", "n_channels_", "n_timesteps_"]),
    ],
)
def test_every_parameter_and_fitted_attribute_is_documented(estimator, own_attributes):
    doc = estimator.__doc__
    for name in estimator().get_params():
        assert re.search(rf"^    {name} : ", doc, re.M), name
    for name in own_attributes + PRIVACY_ATTRIBUTES:
        assert re.search(rf"^    {name} : ", doc, re.M), name


@pytest.mark.parametrize("estimator", [DPAttentionClassifier, DPAttentionRegressor, DPSequenceClassifier])
def test_parameters_are_documented_in_signature_order_with_their_defaults(estimator):
    signature = inspect.signature(estimator).parameters
    documented = re.findall(r"^    (\w+) : .*?(?:default=(.+))?$", estimator.__doc__.split("Attributes\n")[0], re.M)
    assert [name for name, _ in documented] == list(signature)
    for name, default in documented:
        assert default.replace('"', "'") == repr(signature[name].default), name
    # Every estimator takes every privacy and training parameter of the shared fit path.
    assert set(BaseDPEstimator._parameter_constraints) <= set(signature)


def test_a_docstring_that_drifts_from_its_signature_does_not_import():
    from sk_privattn.utils._docs import shared_docstring

    class Estimator:
        """An estimator.

        Parameters
        ----------
        {epsilon}
        """

        def __init__(self, epsilon=1.0, delta=None):
            pass

    with pytest.raises(ValueError, match=r"documents none of \['delta'\]"):
        shared_docstring(Estimator)


# Every Markdown page whose Python blocks run as written, with a line that its output must
# contain. The blocks of one page run in order, in one namespace.
RUNNABLE_PAGES = {
    "index.md": [],
    "getting_started.md": ["{'call': 1, 'epoch': 25"],
    "privacy.md": ["[2400000.]"],
    "usage.md": ["True", "is the privacy budget of the model"],
    "sequences.md": ["True ", "(3, ", "'epsilon'"],
    "howto/pipeline.md": [],
    "howto/grid_search.md": [],
    "howto/swap_classifier.md": ["ε = 1:"],
    "private_inference.md": ["same scores: True"],
    "persons.md": ["person 0.02 True", "person"],
    "remote.md": ["mock None", "[('alice@uni.edu', 'done')]", "trained_on='private'", "so ε=1.0", "remains"],
}

# Pages whose examples need an optional dependency, which the test extra installs.
PAGE_REQUIRES = {"private_inference.md": "tenseal", "remote.md": "syft_rds"}


# Pages whose Python blocks are not run here, and why.
NOT_RUN_PAGES = {
    "federated.md": "Ray simulations on the whole of Adult and the files of a Flower deployment; "
                    "tests/test_federated.py runs the same API on small data",
    "reporting.md": "run by test_reporting_examples_run_as_written below, with checks of its own",
    "scale.md": "files and a Dask cluster of the reader's; tests/test_data_sources.py and "
                "tests/test_dask_pass.py run the same API on polars, Arrow, Parquet and a LocalCluster",
}


def test_every_page_with_python_examples_is_run():
    pages = {str(path.relative_to(ROOT / "docs")) for path in (ROOT / "docs").rglob("*.md")
             if "```python" in path.read_text() and "_build" not in path.parts}
    assert pages == set(RUNNABLE_PAGES) | set(NOT_RUN_PAGES)


@pytest.mark.parametrize("page", sorted(RUNNABLE_PAGES))
def test_page_examples_run_as_written(page, capsys, tmp_path, monkeypatch):
    import matplotlib

    if page in PAGE_REQUIRES:
        pytest.importorskip(PAGE_REQUIRES[page])
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # where an example saves a figure or a model
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / page).read_text(), re.S)
    namespace = {}
    for block in blocks:
        with warnings.catch_warnings():
            # Every example passes public metadata: none may leak.
            warnings.simplefilter("error", PrivacyLeakWarning)
            exec(compile(block, str(ROOT / "docs" / page), "exec"), namespace)
    out = capsys.readouterr().out
    for expected in RUNNABLE_PAGES[page]:
        assert expected in out, expected


def test_site_builds_with_warnings_as_errors(tmp_path):
    # The whole site, as CI builds it: every page, the API reference generated from the
    # docstrings, and every gallery example run again (in their short CI setting).
    pytest.importorskip("sphinx", reason="the [docs] extra is not installed")
    pytest.importorskip("sphinx_gallery", reason="the [docs] extra is not installed")
    html = tmp_path / "html"
    env = {**os.environ, "SK_PRIVATTN_DOC_QUICK": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
               "-D", "sphinx_gallery_conf.run_stale_examples=True",
               "-d", str(tmp_path / "doctrees"), "docs", str(html)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout[-3000:] + result.stderr[-6000:])

    for page in ["index", "getting_started", "user_guide", "privacy", "usage", "sequences", "reporting", "federated",
                 "private_inference", "remote", "howto/pipeline", "howto/grid_search", "howto/swap_classifier", "benchmarks", "changelog", "api"]:
        assert (html / f"{page}.html").is_file(), page
    api = (ROOT / "docs" / "api.rst").read_text()
    modules = re.findall(r"^   (sk_privattn[\w.]*)$", api, re.M)
    assert "sk_privattn.plot" in modules
    for module in modules:
        for name in importlib.import_module(module).__all__:
            if not name.startswith("_") and not name.isupper():  # not __version__, nor constants
                assert (html / "gen_modules" / f"{module}.{name}.html").is_file(), f"{module}.{name}"
    # The two displays are in the gallery, with their pictures.
    for example in ["plot_privacy_utility", "plot_attention"]:
        assert (html / "_images" / f"sphx_glr_{example}_001.png").is_file(), example
    for display in ["PrivacyUtilityDisplay", "AttentionDisplay"]:
        assert "sphx-glr-thumbcontainer" in (html / "gen_modules" / f"sk_privattn.plot.{display}.html").read_text()


def test_readme_links_to_pages_that_exist():
    links = re.findall(r"\]\((docs/[^)#]+)", (ROOT / "README.md").read_text())
    assert {"docs/getting_started.md", "docs/user_guide.md", "docs/changelog.md"} <= set(links)
    for link in links:
        assert (ROOT / link).exists(), link


def test_reporting_examples_run_as_written(capsys):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "reporting.md").read_text(), re.S)
    assert len(blocks) == 5
    namespace = {}
    for block in blocks:  # each block continues the previous one, as a reader would run them
        with warnings.catch_warnings():
            warnings.simplefilter("error", PrivacyLeakWarning)
            exec(compile(block, str(ROOT / "docs" / "reporting.md"), "exec"), namespace)
    out = capsys.readouterr().out
    assert "total per training row" in out and "over the budget of ε=2" in out
    assert "MembershipInferenceResult(attack='lira'" in out
    assert "OneRunAuditResult(mode='white-box'" in out
    assert namespace["report"].total_epsilon > namespace["report"].selected_epsilon


def test_readme_has_install_and_test_commands():
    readme = (ROOT / "README.md").read_text()
    assert '## Install\n\n```bash\npython -m pip install "torch==2.13.0"' in readme
    assert "## Test\n\n```bash\npython -m pytest" in readme


def test_main_command_quick_run(capsys):
    assert main(["--quick", "--epochs", "1", "--epsilons", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines() if re.match(r"^\s+(2|inf)\s", line)]
    assert [line[0] for line in lines] == ["2", "inf"]
    assert float(lines[0][1]) <= 2.0 and lines[1][1] == "inf"
    # The private fit's plan read a DP count of the rows; the non-private one the exact count.
    assert lines[1][3] == "6,000" and int(lines[0][3].replace(",", "")) >= 100
    assert all(0.5 < float(line[4]) <= 1.0 for line in lines)
    assert "adding or removing one row" in out


def test_main_command_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--epsilons" in out and "--epochs" in out and "--quick" in out


def test_main_command_rejects_bad_epsilon(capsys):
    with pytest.raises(SystemExit):
        main(["--epsilons", "-1"])
    assert "epsilon must be > 0" in capsys.readouterr().err
