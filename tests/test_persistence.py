"""Saving a fitted estimator without pickle, and loading it back with nothing executed."""

import io
import json
import zipfile

import numpy as np
import pytest

from sk_privattn import DPAttentionRegressor, privacy_report
from sk_privattn.persistence import load, save

from _settings import FAST_PARAMS
from conftest import KINDS, PUBLIC, make_case, make_mixed_frame


def _round_trip(estimator, tmp_path):
    path = tmp_path / "model.zip"
    save(estimator, path)
    return load(path), path


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_predicts_the_same_and_keeps_what_was_spent(kind, tmp_path):
    estimator, X, y = make_case(kind, class_weight={1: 2.0})
    estimator.fit(X, y)
    loaded, path = _round_trip(estimator, tmp_path)
    assert type(loaded) is type(estimator) and loaded.get_params() == estimator.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
    for name in ("epsilon_", "delta_", "noise_multiplier_", "sample_rate_", "n_steps_", "accountant_history_",
                 "history_", "class_weight_"):
        before, after = estimator.__dict__[name], loaded.__dict__[name]
        assert np.array_equal(after, before) if isinstance(before, np.ndarray) else after == before, name
    np.testing.assert_array_equal(loaded.classes_, estimator.classes_)
    assert privacy_report(loaded).total_epsilon == estimator.epsilon_
    assert not hasattr(loaded, "net_")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["estimator.json", "weights.npz"]


def test_regressor_with_missing_values_and_categories_round_trips(tmp_path):
    X, _ = make_mixed_frame()
    X.loc[X.index[:20], "age"] = np.nan
    target = X["income"].to_numpy()
    reg = DPAttentionRegressor(**FAST_PARAMS, **PUBLIC, target_bounds=(0, 100), random_state=0).fit(X, target)
    loaded, _ = _round_trip(reg, tmp_path)
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    np.testing.assert_array_equal(loaded.bounds_, reg.bounds_)
    assert [list(c) for c in loaded.categories_] == [list(c) for c in reg.categories_]


def test_a_loaded_model_continues_with_warm_start(tmp_path):
    estimator, X, y = make_case("tabular", warm_start=True, epsilon=1.0)
    loaded, _ = _round_trip(estimator.fit(X, y), tmp_path)
    loaded.set_params(epsilon=2.0).fit(X, y)
    assert len(loaded.accountant_history_) == 2 and loaded.epsilon_ <= 2.0


def test_load_refuses_anything_that_would_need_pickle(tmp_path):
    estimator, X, y = make_case("tabular")
    path = tmp_path / "model.zip"
    save(estimator.fit(X, y), path)
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("estimator.json"))
    # Weights stored as an object array (which only pickle can read) are refused.
    tampered = tmp_path / "tampered.zip"
    buffer = io.BytesIO()
    np.savez(buffer, **{"tokenizer.table.weight": np.array([object()], dtype=object)})
    with zipfile.ZipFile(tampered, "w") as archive:
        archive.writestr("estimator.json", json.dumps(document))
        archive.writestr("weights.npz", buffer.getvalue())
    with pytest.raises(ValueError, match="allow_pickle=False"):
        load(tampered)
    # So is a class that is not an estimator of this package.
    document["estimator"] = "Popen"
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("estimator.json", json.dumps(document))
        archive.writestr("weights.npz", b"")
    with pytest.raises(ValueError, match="not an estimator of sk_privattn"):
        load(tmp_path / "other.zip")


def test_save_refuses_an_unfitted_estimator(tmp_path):
    from sklearn.exceptions import NotFittedError

    estimator, _, _ = make_case("tabular")
    with pytest.raises(NotFittedError):
        save(estimator, tmp_path / "model.zip")
