"""The documentation matches the code, and the main command runs."""

import importlib.util
import inspect
import re
import warnings
from pathlib import Path

import pytest

from sk_privattn import DPAttentionClassifier, DPAttentionRegressor, DPSequenceClassifier, PrivacyLeakWarning
from sk_privattn._base import BaseDPEstimator
from sk_privattn._tabular import BaseDPAttention
from sk_privattn.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


def _load_api_builder():
    spec = importlib.util.spec_from_file_location("build_api", ROOT / "docs" / "build_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_is_generated_from_the_current_docstrings():
    expected = _load_api_builder().render()
    assert (ROOT / "docs" / "api.md").read_text() == expected, "run: python docs/build_api.py"


PRIVACY_ATTRIBUTES = ["n_features_in_", "feature_names_in_", "epsilon_", "delta_", "noise_multiplier_",
                      "sample_rate_", "batch_size_", "n_steps_", "accountant_history_", "history_", "module_", "net_"]
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
def test_defaults_agree_with_the_base_and_the_docstring(estimator):
    # The public estimators write out their whole signature, as scikit-learn's
    # do; a default changed in one place must be changed in all of them.
    base = inspect.signature(BaseDPAttention).parameters
    own = inspect.signature(estimator).parameters
    for name, parameter in own.items():
        if name in base and issubclass(estimator, BaseDPAttention):
            assert parameter.default == base[name].default or (parameter.default is base[name].default), (
                f"{estimator.__name__}({name}={parameter.default!r}) but BaseDPAttention has "
                f"{name}={base[name].default!r}: change it in _base.py, classifier.py and regressor.py"
            )
        documented = re.search(rf"^    {name} : .*default=(.+)$", estimator.__doc__, re.M)
        assert documented, f"{name} has no 'default=' in the docstring of {estimator.__name__}"
        assert documented.group(1).replace('"', "'") == repr(parameter.default), (
            f"the docstring of {estimator.__name__} says {name} default={documented.group(1)}, "
            f"the signature {parameter.default!r}"
        )
    if issubclass(estimator, BaseDPAttention):
        assert set(base) <= set(own)
    # Every estimator takes every privacy and training parameter of the shared fit path.
    assert set(BaseDPEstimator._parameter_constraints) <= set(own)


def test_usage_examples_run_as_written(capsys):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "usage.md").read_text(), re.S)
    assert len(blocks) == 3
    for block in blocks:
        with warnings.catch_warnings():
            # Every example passes public metadata: none may leak.
            warnings.simplefilter("error", PrivacyLeakWarning)
            exec(compile(block, str(ROOT / "docs" / "usage.md"), "exec"), {})
    out = capsys.readouterr().out
    assert "True" in out and "is the privacy budget of the model" in out


def test_sequence_examples_run_as_written(capsys):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "sequences.md").read_text(), re.S)
    assert len(blocks) == 2
    namespace = {}
    for block in blocks:
        exec(compile(block, str(ROOT / "docs" / "sequences.md"), "exec"), namespace)
    out = capsys.readouterr().out
    assert out.startswith("True ")
    assert "(3, " in out and "'epsilon'" in out


def test_reporting_examples_run_as_written(capsys):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "reporting.md").read_text(), re.S)
    assert len(blocks) == 4
    namespace = {}
    for block in blocks:  # each block continues the previous one, as a reader would run them
        with warnings.catch_warnings():
            warnings.simplefilter("error", PrivacyLeakWarning)
            exec(compile(block, str(ROOT / "docs" / "reporting.md"), "exec"), namespace)
    out = capsys.readouterr().out
    assert "total per training row" in out and "over the budget of ε=2" in out
    assert "MembershipInferenceResult(attack='lira'" in out
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
    assert all(0.5 < float(line[3]) <= 1.0 for line in lines)


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
