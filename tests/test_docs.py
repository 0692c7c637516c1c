"""The documentation matches the code, and the main command runs."""

import importlib.util
import re
from pathlib import Path

import pytest

from sk_privattn import DPAttentionClassifier
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


def test_every_parameter_and_fitted_attribute_is_documented():
    doc = DPAttentionClassifier.__doc__
    for name in DPAttentionClassifier().get_params():
        assert re.search(rf"^    {name} : ", doc, re.M), name
    for name in ["classes_", "n_features_in_", "feature_names_in_", "epsilon_", "delta_", "noise_multiplier_",
                 "sample_rate_", "n_steps_", "bounds_", "categories_", "history_", "module_", "net_"]:
        assert re.search(rf"^    {name} : ", doc, re.M), name


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
