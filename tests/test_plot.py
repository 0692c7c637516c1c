"""The displays of sk_privattn.plot draw what they claim, with the Agg backend."""

import sys

import matplotlib
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sk_privattn import DPAttentionClassifier, DPAttentionRegressor, DPSequenceClassifier
from sk_privattn.plot import AttentionDisplay, PrivacyUtilityDisplay

from _settings import FAST_PARAMS, FAST_SEQUENCE_PARAMS
from conftest import PUBLIC, make_mixed_frame, make_series

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def search():
    """A fitted grid over ε and the learning rate, with the non-private model in it."""
    X, y = make_mixed_frame(n_samples=200)
    # The RDP accountant calibrates the noise faster than PRV: the display does not care which.
    clf = DPAttentionClassifier(**PUBLIC, classes=[0, 1], **FAST_PARAMS, accountant="rdp", random_state=0)
    grid = {"epsilon": [4.0, 1.0, np.inf], "lr": [0.002, 0.05]}
    return GridSearchCV(clf, grid, cv=2).fit(X, y)


def _best_split_scores(results, epsilon):
    """The split scores of the best candidate at ``epsilon``, read independently."""
    rows = [i for i, value in enumerate(results["param_epsilon"]) if value == epsilon]
    best = max(rows, key=lambda i: results["mean_test_score"][i])
    return [results["split0_test_score"][best], results["split1_test_score"][best]]


def test_from_cv_results_plots_the_best_candidate_per_epsilon(search, tmp_path):
    display = PrivacyUtilityDisplay.from_cv_results(search)
    results = search.cv_results_

    np.testing.assert_array_equal(display.epsilons, [1.0, 4.0])
    np.testing.assert_allclose(display.scores, [_best_split_scores(results, 1.0), _best_split_scores(results, 4.0)])
    np.testing.assert_allclose(display.non_private_scores, _best_split_scores(results, np.inf))
    assert display.score_name == "accuracy" and display.name == "DPAttentionClassifier"

    ax = display.ax_
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "accuracy" and "ε" in ax.get_xlabel()
    np.testing.assert_allclose(display.line_.get_xdata(), [1.0, 4.0])
    np.testing.assert_allclose(display.line_.get_ydata(), display.scores.mean(axis=1))
    (error_bars,) = display.errorbar_.lines[2]
    assert len(error_bars.get_segments()) == 2
    assert display.reference_line_.get_ydata()[0] == pytest.approx(np.mean(display.non_private_scores))
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "DPAttentionClassifier" in legend and any(text.startswith("non-private (ε = ∞): ") for text in legend)
    assert display.figure_ is ax.figure

    path = tmp_path / "privacy_utility.png"
    display.figure_.savefig(path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_plot_on_a_given_axes_returns_the_display(search):
    display = PrivacyUtilityDisplay.from_cv_results(search)
    _, ax = plt.subplots()
    assert display.plot(ax=ax, name="again") is display
    assert display.ax_ is ax and "again" in [text.get_text() for text in ax.get_legend().get_texts()]


def test_from_cv_results_finds_epsilon_inside_a_pipeline():
    X, y = make_mixed_frame(n_samples=200)
    clf = DPAttentionClassifier(**PUBLIC, classes=[0, 1], **FAST_PARAMS, accountant="rdp", random_state=0)
    pipe = make_pipeline(FunctionTransformer(), clf)
    search = GridSearchCV(pipe, {"dpattentionclassifier__epsilon": [2.0]}, cv=2, scoring="balanced_accuracy")
    display = PrivacyUtilityDisplay.from_cv_results(search.fit(X, y))
    assert display.score_name == "balanced_accuracy" and display.name == "DPAttentionClassifier"
    assert display.non_private_scores is None and display.reference_line_ is None
    np.testing.assert_allclose(display.scores, [[search.cv_results_[f"split{k}_test_score"][0] for k in (0, 1)]])


def test_from_estimator_scores_clones_by_cross_validation(tmp_path):
    X, y = make_mixed_frame(n_samples=200)
    reg = DPAttentionRegressor(**PUBLIC, **FAST_PARAMS, accountant="rdp", target_bounds=(0, 1), random_state=0)
    display = PrivacyUtilityDisplay.from_estimator(reg, X, y.astype(float), epsilons=[2], cv=2)

    expected = cross_val_score(reg.set_params(epsilon=2.0), X, y.astype(float), cv=2)
    np.testing.assert_allclose(display.scores, [expected])
    assert display.non_private_scores.shape == (2,)
    assert display.score_name == "R²" and not hasattr(reg, "epsilon_")  # clones were fitted, not reg
    display.figure_.savefig(tmp_path / "from_estimator.png")


def test_errors_name_the_problem_and_the_fix():
    clf = DPAttentionClassifier(**FAST_PARAMS)
    with pytest.raises(NotFittedError):
        PrivacyUtilityDisplay.from_cv_results(GridSearchCV(clf, {"epsilon": [1.0]}))
    with pytest.raises(ValueError, match="exactly one parameter named 'epsilon'.*param_name"):
        PrivacyUtilityDisplay.from_estimator(LogisticRegression(), [[0.0]], [0], epsilons=[1])
    with pytest.raises(ValueError, match=r"epsilons must be a non-empty list of values > 0; got \[-1\]"):
        PrivacyUtilityDisplay.from_estimator(clf, [[0.0]], [0], epsilons=[-1])


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    display = PrivacyUtilityDisplay(epsilons=[1.0], scores=[[0.5]])
    with pytest.raises(ImportError, match=r'PrivacyUtilityDisplay.plot requires matplotlib.*sk_privattn\[plot\]'):
        display.plot()
    with pytest.raises(ImportError, match=r"AttentionDisplay.from_estimator requires matplotlib"):
        AttentionDisplay.from_estimator(DPAttentionClassifier(), [[0.0]])


@pytest.fixture(scope="module")
def fitted_classifier():
    X, y = make_mixed_frame(n_samples=200)
    return DPAttentionClassifier(**PUBLIC, classes=[0, 1], **FAST_PARAMS, random_state=0).fit(X, y)


def test_attention_display_draws_the_heatmap_and_the_mean_per_feature(fitted_classifier, tmp_path):
    X_new, _ = make_mixed_frame(n_samples=30, seed=1)  # fresh rows, not the training rows
    display = AttentionDisplay.from_estimator(fitted_classifier, X_new, name="attention")
    expected = fitted_classifier.attention(X_new)

    np.testing.assert_allclose(display.attention, expected)
    np.testing.assert_allclose(display.heatmap_.get_array(), expected)
    np.testing.assert_allclose([bar.get_height() for bar in display.bars_], expected.mean(axis=0), rtol=1e-6)
    heatmap_ax, bar_ax = display.axes_
    assert [label.get_text() for label in bar_ax.get_xticklabels()] == ["age", "color", "income", "size"]
    assert bar_ax.get_xlabel() == "feature" and heatmap_ax.get_title() == "attention"
    assert display.colorbar_.ax in display.figure_.axes

    path = tmp_path / "attention.png"
    display.figure_.savefig(path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_attention_display_of_a_pipeline_transforms_first(fitted_classifier):
    X_new, _ = make_mixed_frame(n_samples=10, seed=2)
    shift = FunctionTransformer(lambda X: X.assign(age=X["age"] + 5))
    pipe = make_pipeline(shift, fitted_classifier)
    display = AttentionDisplay.from_estimator(pipe, X_new)
    np.testing.assert_allclose(display.attention, fitted_classifier.attention(shift.transform(X_new)))


@pytest.mark.parametrize("univariate", [False, True])
def test_attention_display_over_time_steps(univariate):
    X, y = make_series(n_samples=64)
    if univariate:
        X = X[:, :, 0]  # 2-D: one univariate series per row, so n_features_in_ == n_timesteps
    clf = DPSequenceClassifier(**FAST_SEQUENCE_PARAMS, classes=[0, 1], random_state=0).fit(X, y)
    display = AttentionDisplay.from_estimator(clf, X[:5])
    np.testing.assert_allclose(display.heatmap_.get_array(), clf.attention(X[:5]))
    assert display.heatmap_.get_array().shape == (5, 16)
    assert display.axes_[1].get_xlabel() == "time step" and len(display.bars_) == 16


def test_attention_display_rejects_an_estimator_without_attention(numeric_data):
    X, y = numeric_data
    with pytest.raises(TypeError, match="attention\\(X\\) method.*got LogisticRegression"):
        AttentionDisplay.from_estimator(LogisticRegression().fit(X, y), X)
    with pytest.raises(NotFittedError):
        AttentionDisplay.from_estimator(DPAttentionClassifier(), X)
