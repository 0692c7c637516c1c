"""Remote DP fits over syft-rds (sk_privattn.remote), offline through syft's mock Drive: an approved
job returns the model of a local fit, budgets refuse overdrafts per scientist and survive a restart,
only the package's runner with valid parameters runs, and a mock fit says that it is one."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sk_privattn import BudgetExceededError, DPAttentionClassifier
from sk_privattn.model_selection import PrivateRandomSearch
from sk_privattn.remote import (RUNNER, BudgetLedger, DataOwner, DataScientist, JobPendingError, JobRefusedError,
                                PublicMetadata, make_request, runner_sha256, synthetic_mock)
from sk_privattn.remote._syft import quiet

from _settings import FAST_PARAMS
from conftest import PUBLIC, make_mixed_frame

OWNER = "owner@hospital.org"
ALICE = "alice@uni.edu"
BOB = "bob@uni.edu"
N_ROWS = 300
DELTA = 1e-5

# Tiny models on 300 rows at ε = 1: the noise may outweigh the signal, which is not under test.
pytestmark = pytest.mark.filterwarnings("ignore:DP-SGD will likely learn little")


def _frame():
    X, y = make_mixed_frame(n_samples=N_ROWS)
    return X.assign(label=y)


def _network(folder, scientists):
    """An owner's client and one client per scientist, all on one in-memory mock Drive.

    syft-rds pairs one owner with one scientist (``pair_with_mock_drive_service_connection``);
    further scientists join the same mock Drive as that helper joins the first (syft 0.10.0).
    """
    syft_rds = pytest.importorskip("syft_rds")
    from syft.sync.connections.drive.gdrive_transport import GDriveConnection
    from syft.sync.connections.drive.mock_drive_service import MockDriveService
    from syft.sync.syftbox_manager import SyftboxManager, SyftboxManagerConfig
    from syft_rds.config import DATASET_COLLECTION_SPECS

    with quiet():
        first, owner = syft_rds.SyftRDSClient.pair_with_mock_drive_service_connection(
            email1=OWNER, email2=scientists[0], base_path1=str(folder / OWNER),
            base_path2=str(folder / scientists[0]), use_in_memory_cache=False)
        store = owner.peer_manager.connection_router.connections[0].drive_service._backing_store
        clients = [first]
        for email in scientists[1:]:
            config = SyftboxManagerConfig._base_config_for_testing(
                email=email, syftbox_folder=folder / email, has_ds_role=True, use_in_memory_cache=False,
                collection_specs=DATASET_COLLECTION_SPECS)
            manager = SyftboxManager.from_config(config)
            manager._add_connection(GDriveConnection.from_service(email, MockDriveService(store, email)))
            manager.file_writer.add_callback("write_file", manager.datasite_watcher_syncer.on_file_change)
            manager.peer_manager.write_own_version()
            manager.add_peer(OWNER, sync=False)
            owner.load_peers()
            owner.approve_peer_request(email)
            manager.load_peers()
            clients.append(syft_rds.SyftRDSClient._build_rds_pair_from_managers(manager, owner.sync_engine)[0])
    return owner, clients


def _published(tmp_path, scientists=(ALICE,), epsilon=1.5, **owner_params):
    """An owner (budget ``epsilon`` each) that published the mixed frame as "visits", and the scientists."""
    owner_client, clients = _network(tmp_path, list(scientists))
    owner = DataOwner(owner_client, ledger=tmp_path / "budgets.json", epsilon=epsilon, delta=DELTA, **owner_params)
    owner.publish_dataset("visits", _frame(), target="label", classes=[0, 1], n_mock_rows=120, **PUBLIC)
    return owner, [DataScientist(client) for client in clients]


def _classifier(epsilon=1.0, **params):
    return DPAttentionClassifier(epsilon=epsilon, **{**FAST_PARAMS, **params})


def _submit_by_hand(scientist, request, runner=None, extra=None):
    """Submit a job folder written by hand (not by DataScientist.submit); return the job's name."""
    home = Path(scientist.client.syftbox_folder)
    folder = home / f"handmade-{len(list(home.glob('handmade-*')))}"
    folder.mkdir()
    (folder / "main.py").write_text(RUNNER.read_text() if runner is None else runner)
    (folder / "request.json").write_text(json.dumps(request))
    for name, text in (extra or {}).items():
        (folder / name).write_text(text)
    with quiet():
        scientist.client.submit_python_job(OWNER, str(folder), job_name=folder.name, entrypoint="main.py")
    return folder.name


def _released_files(scientist, job_name):
    """The files of a job's outputs that reached the scientist's syft folder."""
    return [path for path in Path(scientist.client.syftbox_folder).rglob("*")
            if path.is_file() and job_name in path.parts and "outputs" in path.parts]


def test_an_approved_job_returns_the_model_of_a_local_fit_with_the_same_seed(tmp_path):
    owner, (alice,) = _published(tmp_path, random_state=0)
    job = alice.submit(_classifier(), dataset="visits")
    with pytest.raises(JobPendingError, match="has not reviewed it yet"):
        job.result()

    (decision,) = owner.review()
    assert decision.status == "done" and decision.scientist == ALICE
    result = job.result()

    frame = _frame()
    X, y = frame.drop(columns="label"), frame["label"].to_numpy()
    local = _classifier(delta=DELTA, classes=[0, 1], random_state=decision.random_state, **PUBLIC).fit(X, y)
    np.testing.assert_array_equal(result.estimator.predict_proba(X), local.predict_proba(X))
    assert result.trained_on == "private" and result.epsilon == local.epsilon_ <= 1.0
    assert (result.delta, result.neighbouring, result.unit) == (DELTA, "add_or_remove", "row")
    # The owner charged what the accountant spent, and said what is left.
    assert owner.budget(ALICE, "visits")["spent_epsilon"] == result.epsilon == decision.epsilon
    assert result.budget["remaining_epsilon"] == pytest.approx(1.5 - result.epsilon)
    # No seed leaves the owner.
    assert result.estimator.random_state is None
    assert result.report["runner_sha256"] == runner_sha256()
    # What reached the scientist: the model and its report, nothing else.
    assert sorted(path.name for path in _released_files(alice, job.name)) == ["model.zip", "report.json"]


def test_a_job_over_budget_is_refused_and_nothing_is_released(tmp_path):
    owner, (alice,) = _published(tmp_path, epsilon=1.5)
    first = alice.submit(_classifier(epsilon=1.0), dataset="visits")
    owner.review()
    spent = first.result().epsilon

    overdraft = alice.submit(_classifier(epsilon=1.0), dataset="visits")
    (decision,) = owner.review()
    assert decision.status == "refused" and decision.epsilon == 0.0
    assert overdraft.status == "refused"
    with pytest.raises(JobRefusedError, match=r"asks for ε=1 on dataset 'visits'.*so ε=0\.50\d* remains"):
        overdraft.result()
    assert _released_files(alice, overdraft.name) == []
    assert owner.budget(ALICE, "visits")["spent_epsilon"] == spent
    # The refusal reads the ledger and the request only: no count of the rows.
    assert str(N_ROWS) not in decision.message

    # What remains can still be spent.
    alice.submit(_classifier(epsilon=0.5), dataset="visits")
    assert [d.status for d in owner.review()] == ["done"]


def test_a_tampered_runner_or_unknown_parameters_are_refused(tmp_path):
    owner, (alice,) = _published(tmp_path)
    good = make_request(_classifier(), "visits")

    def asking(**params):
        return {**good, "estimator": {"class": "DPAttentionClassifier", "params": {"epsilon": 1.0, **params}}}

    refusals = {
        _submit_by_hand(alice, good, runner=RUNNER.read_text() + "\nimport os\n"): "is not the runner of sk_privattn",
        _submit_by_hand(alice, good, extra={"helper.py": "x = 1\n"}): "is not an sk_privattn job",
        _submit_by_hand(alice, asking(max_epoch=3)): "has no parameter 'max_epoch'. Did you mean 'max_epochs'?",
        _submit_by_hand(alice, asking(random_state=0)): "regenerate the noise",
        _submit_by_hand(alice, asking(delta=1e-3)): "accounts every job at delta=1e-05",
        _submit_by_hand(alice, asking(max_epochs=0)): "do not pass its validation",
        _submit_by_hand(alice, asking(epsilon=math.inf)): "not private",
        _submit_by_hand(alice, asking(class_weight="balanced")): "reads the number of rows of each class",
        _submit_by_hand(alice, {**good, "estimator": {"class": "LogisticRegression", "params": {}}}): "runs only",
        _submit_by_hand(alice, {**good, "dataset": "payroll"}): "no dataset named 'payroll'",
        _submit_by_hand(alice, {**good, "estimator": {"class": "PrivateRandomSearch", "params": {
            "estimator": good["estimator"], "param_grid": {"random_state": [0, 1]}, "public_count": N_ROWS}}}):
            "The param_grid sets ['random_state'], which only the data owner sets",
    }
    decisions = {decision.job: decision for decision in owner.review()}
    for job, reason in refusals.items():
        assert decisions[job].status == "refused", job
        assert reason in decisions[job].message, (job, decisions[job].message)
    assert owner.budget(ALICE, "visits")["jobs"] == []
    # The scientist's own call checks the same before it submits anything.
    with pytest.raises(JobRefusedError, match="only the data owner sets"):
        alice.submit(_classifier(random_state=0), dataset="visits")
    assert owner.review() == []


def test_two_scientists_have_separate_budgets(tmp_path):
    owner, (alice, bob) = _published(tmp_path, scientists=(ALICE, BOB), epsilon=1.5)
    alice_job = alice.submit(_classifier(epsilon=1.0), dataset="visits")
    bob_job = bob.submit(_classifier(epsilon=1.0), dataset="visits")
    assert [d.status for d in owner.review()] == ["done", "done"]
    again = alice.submit(_classifier(epsilon=1.0), dataset="visits")
    (decision,) = owner.review()
    assert decision.status == "refused" and decision.scientist == ALICE
    assert owner.budget(BOB, "visits")["spent_epsilon"] == bob_job.result().epsilon
    assert owner.budget(ALICE, "visits")["spent_epsilon"] == alice_job.result().epsilon
    with pytest.raises(JobRefusedError, match=f"{ALICE} has spent"):
        again.result()
    # Each receives their own results only.
    assert _released_files(bob, alice_job.name) == [] and _released_files(alice, bob_job.name) == []


def test_an_owner_restart_keeps_the_budget(tmp_path):
    owner, (alice,) = _published(tmp_path, epsilon=1.5)
    alice.submit(_classifier(epsilon=1.0), dataset="visits")
    (done,) = owner.review()

    restarted = DataOwner(owner.client, ledger=tmp_path / "budgets.json", epsilon=1.5, delta=DELTA)
    assert restarted.budget(ALICE, "visits")["spent_epsilon"] == done.epsilon
    alice.submit(_classifier(epsilon=1.0), dataset="visits")
    (refused,) = restarted.review()
    assert refused.status == "refused" and refused.remaining_epsilon == pytest.approx(1.5 - done.epsilon)
    with pytest.raises(ValueError, match="composes jobs at delta=1e-05"):
        DataOwner(owner.client, ledger=tmp_path / "budgets.json", epsilon=1.5, delta=1e-6)


def test_the_mock_call_trains_on_the_mock_here_and_says_so(tmp_path):
    owner, (alice,) = _published(tmp_path)
    with pytest.warns(UserWarning, match="trained here, on the mock part of 'visits'"):
        job = alice.submit(_classifier(), dataset="visits", data="mock")
    result = job.result()
    assert job.status == "mock" and result.trained_on == "mock" and result.budget is None
    assert result.estimator.predict(_frame().drop(columns="label")).shape == (N_ROWS,)
    assert owner.review() == [] and owner.budget(ALICE, "visits")["jobs"] == []


def test_a_private_search_is_charged_the_bound_it_reports(tmp_path):
    owner, (alice,) = _published(tmp_path, epsilon=4.0)
    search = PrivateRandomSearch(_classifier(max_epochs=1), {"epsilon": [0.5, 1.0]}, mean_n_candidates=2,
                                 public_count=N_ROWS)
    job = alice.submit(search, dataset="visits")
    (done,) = owner.review()
    result = job.result()
    assert done.status == "done"
    assert result.epsilon == result.requested_epsilon == done.epsilon > 1.0  # the bound of the whole search
    assert result.best_params["epsilon"] in (0.5, 1.0)
    assert owner.budget(ALICE, "visits")["spent_epsilon"] == result.epsilon
    # Under add-or-remove, a search without a public count could be bounded only from a DP count.
    with pytest.raises(JobRefusedError, match="needs a public count of the rows"):
        alice.submit(PrivateRandomSearch(_classifier(), {"epsilon": [0.5]}), dataset="visits")


# -- the parts, without syft -------------------------------------------------


def test_the_budget_ledger_composes_jobs_by_basic_composition(tmp_path):
    ledger = BudgetLedger(tmp_path / "budgets.json", epsilon=2.0, delta=DELTA)
    for job, epsilon in [("a", 0.9), ("b", 0.6)]:
        ledger.reserve(ALICE, "visits", job, 1.0, "DPAttentionClassifier")
        ledger.settle(ALICE, "visits", job, epsilon=epsilon, delta=DELTA)
    assert ledger.spent(ALICE, "visits") == (pytest.approx(1.5), pytest.approx(2 * DELTA))
    with pytest.raises(BudgetExceededError, match=r"asks for ε=0\.6 .* so ε=0\.5 remains"):
        ledger.reserve(ALICE, "visits", "c", 0.6, "DPAttentionClassifier")
    ledger.reserve(ALICE, "visits", "c", 0.5, "DPAttentionClassifier")  # a reservation counts until settled
    assert ledger.remaining_epsilon(ALICE, "visits") == 0.0 and ledger.remaining_epsilon(BOB, "visits") == 2.0
    with pytest.raises(ValueError, match="neighbouring='add_or_remove'.*neighbouring='replace_one'"):
        BudgetLedger(tmp_path / "budgets.json", epsilon=2.0, delta=DELTA, neighbouring="replace_one")


def test_the_runner_runs_nothing_outside_the_owners_review():
    result = subprocess.run([sys.executable, str(RUNNER)], capture_output=True, text=True)
    assert result.returncode != 0 and "DataOwner(...).review()" in result.stderr


def test_a_synthetic_mock_reads_nothing_but_the_public_metadata():
    metadata = PublicMetadata(target="label", task="classification", features=["age", "color", "income", "size"],
                              classes=[0, 1], **PUBLIC)
    mock = synthetic_mock(metadata, n_rows=50)
    assert list(mock.columns) == ["age", "color", "income", "size", "label"]
    assert mock["age"].between(18, 80).all() and mock["income"].between(0, 100).all()
    assert set(mock["color"]) <= {"red", "green", "blue"} and set(mock["label"]) <= {0, 1}
    with pytest.raises(ValueError, match=r"numeric features \['income'\] have no public bounds"):
        PublicMetadata(target="label", task="classification", features=["age", "income"], classes=[0, 1],
                       bounds={"age": (18, 80)})


def test_a_search_knows_its_bound_before_it_reads_a_row():
    X, y = make_mixed_frame(n_samples=N_ROWS)
    search = PrivateRandomSearch(_classifier(max_epochs=1, classes=[0, 1], **PUBLIC), {"epsilon": [0.5, 1.0]},
                                 mean_n_candidates=2, public_count=N_ROWS, random_state=0)
    assert search.planned_epsilon() == search.fit(X, y).epsilon_
    with pytest.raises(ValueError, match="needs a public count"):
        PrivateRandomSearch(_classifier(), {"epsilon": [0.5]}).planned_epsilon()


# -- the owner's table of parameters, and what it decides before reading a row -------


def test_every_parameter_of_the_allow_list_is_in_exactly_one_class():
    """The owner's table (sk_privattn.remote._parameters) classifies every parameter that a request
    can set: of every estimator of the allow-list, of a search, and of a search's grid (the
    parameters of its estimator). A new parameter fails this test until it is classified."""
    from sk_privattn import DPAttentionRegressor
    from sk_privattn.remote._parameters import CLASSES, parameter_classes
    from sk_privattn.remote._request import _estimators

    listed = [name for names in CLASSES.values() for name in names]
    assert len(listed) == len(set(listed)), "a parameter is in two classes"
    assert set(_estimators()) == {"DPAttentionClassifier", "DPAttentionRegressor", "PrivateRandomSearch"}
    for cls in (DPAttentionClassifier, DPAttentionRegressor, PrivateRandomSearch):
        unclassified = [name for name, label in parameter_classes(cls).items() if label is None]
        assert unclassified == [], (cls.__name__, unclassified)


def _owner_with_a_job(tmp_path, table, estimator_request, name="job-1", **owner_params):
    from _fake_syft import Job, OwnerClient
    from sk_privattn.remote._data import write_part

    metadata = PublicMetadata(target="label", task="classification", features=["age", "color", "income", "size"],
                              classes=[0, 1, 2], **PUBLIC)
    write_part(tmp_path / "private", table, metadata)
    job = Job(tmp_path / "jobs", {**make_request(_classifier(), "visits"), "estimator": estimator_request}, name)
    owner = DataOwner(OwnerClient(tmp_path / "private", [job]), ledger=tmp_path / "budgets.json", epsilon=5.0,
                      delta=DELTA, **owner_params)
    return owner, job


def _request(**params):
    from sk_privattn.persistence import to_json

    return {"class": "DPAttentionClassifier", "params": to_json({"epsilon": 1.0, **FAST_PARAMS, **params})}


@pytest.mark.parametrize("params, reason", [
    ({"classes": [0, 1]}, "asks for classes=[0, 1], but the public metadata of this dataset states classes=[0, 1, 2]"),
    ({"bounds": (0, 1)}, "asks for bounds=(0, 1), but the public metadata"),
    ({"categorical_features": None}, "asks for categorical_features=None, but the public metadata"),
    ({"class_weight": {5: 2.0}}, "gives a weight to [5], which is not a class of y"),
    ({"bounds": None, "categories": None}, None),  # left out: the metadata's
])
def test_the_owner_decides_from_the_request_and_the_metadata_before_reading_a_row(params, reason, tmp_path,
                                                                                   monkeypatch):
    from sk_privattn.remote import _owner

    if reason is not None:
        monkeypatch.setattr(_owner, "read_part", lambda *args: pytest.fail("a refused request read the rows"))
    owner, job = _owner_with_a_job(tmp_path, _frame(), _request(**params))
    (decision,) = owner.review()
    if reason is None:
        assert decision.status == "done" and job.reply()["model"].classes_.tolist() == [0, 1, 2]
    else:
        assert decision.status == "refused" and decision.epsilon == 0.0
        assert reason in job.reply()["reason"], job.reply()["reason"]


def test_the_owner_fits_an_empty_table(tmp_path):
    owner, job = _owner_with_a_job(tmp_path, _frame().iloc[:0], _request())
    (decision,) = owner.review()
    assert decision.status == "done" and job.reply()["model"].count_ >= 100


def test_a_fit_that_fails_after_reading_holds_the_scientists_jobs_until_the_owner_releases_them(tmp_path,
                                                                                              monkeypatch):
    """A failure after the rows were read (here a machine out of memory) is one bit that may depend
    on them: it is refused with a fixed message, charged, and every later job of the scientist
    waits, unread, until the owner releases them; the hold survives a restart of the owner."""
    from _fake_syft import Job
    from sk_privattn.remote import _owner

    def out_of_memory(estimator, X, y):
        raise MemoryError("the owner's machine ran out of memory")

    owner, failing = _owner_with_a_job(tmp_path, _frame(), _request())
    monkeypatch.setattr(_owner, "fit_job", out_of_memory)
    (failed,) = owner.review()
    assert failed.status == "refused" and failed.epsilon == 1.0 and "MemoryError" in failed.error
    assert failing.reply()["reason"] == (
        "Refused: the fit failed on the owner's side after it read the data (the owner has the error). It was "
        "charged the ε=1 it asked for; nothing was released. Your further jobs wait until the owner has looked "
        "at the failure and released them.")
    monkeypatch.undo()

    waiting = Job(tmp_path / "jobs", failing_request(failing), "job-2")
    owner.client.job_client.jobs = [waiting]
    restarted = DataOwner(owner.client, ledger=tmp_path / "budgets.json", epsilon=5.0, delta=DELTA)
    (held,) = restarted.review()
    assert (held.status, waiting.status, held.message) == ("held", "pending", "")
    restarted.release(ALICE)
    with pytest.raises(ValueError, match="are not held"):
        restarted.release(ALICE)
    (done,) = restarted.review()
    assert done.status == "done" and waiting.status == "done"


def failing_request(job):
    return json.loads((job.code_dir / "request.json").read_text())
