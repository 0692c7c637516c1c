"""A change of layout changes no behaviour: a fixed matrix of fits gives the outputs that were
recorded (``tests/_golden.py``); and what an earlier version wrote still loads."""

import json
import pickle

import numpy as np
import pytest

from sk_privattn import PrivacyLedger, privacy_report
from sk_privattn.persistence import load

from _golden import DATA, golden_outputs
from conftest import make_mixed_frame, make_series

pytest.importorskip("flwr")

WRITTEN = DATA / "written_by_ef22742"


def test_the_matrix_of_fits_gives_the_recorded_weights_ledgers_saved_files_and_attributes():
    weights, digests = golden_outputs()
    assert digests == json.loads((DATA / "golden.json").read_text())
    recorded = np.load(DATA / "golden.npz")
    assert sorted(weights) == sorted(recorded.files)
    for name in recorded.files:
        # Float arithmetic may differ in its last bits between machines; another sample or
        # noise draw would move the weights by far more.
        np.testing.assert_allclose(weights[name], recorded[name], rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("name", ["classifier", "sequence"])
def test_pickles_and_saved_models_written_before_the_privacy_and_dpsgd_packages_load_and_predict(name):
    X = make_mixed_frame(n_samples=200)[0] if name == "classifier" else make_series(n_samples=120)[0]
    expected = np.load(WRITTEN / "expected.npz")[name]
    unpickled = pickle.loads((WRITTEN / f"{name}.pkl").read_bytes())
    np.testing.assert_array_equal(unpickled.predict_proba(X), expected)
    assert unpickled.net_.module_ is not None
    np.testing.assert_array_equal(load(WRITTEN / f"{name}.zip").predict_proba(X), expected)


def test_a_ledger_written_before_the_privacy_package_reads_and_reports():
    ledger = PrivacyLedger(path=WRITTEN / "ledger")
    (record,) = ledger.records
    assert record["status"] == "complete" and record["neighbouring"] == "add_or_remove"
    fitted = pickle.loads((WRITTEN / "classifier.pkl").read_bytes())
    report = privacy_report(fitted, ledger=ledger)
    assert report.total_epsilon == pytest.approx(fitted.epsilon_, rel=1e-6)
