"""
===================================================
Remote data science: a DP fit that the owner runs
===================================================

A hospital (the data owner) holds a private table; a data scientist at a university
never sees it. With PySyft's syft-rds 0.10 (``pip install "sk_privattn[syft]"``) the
scientist submits a job that *asks*, as data, for a DP fit of one of the package's
estimators; the owner's :class:`~sk_privattn.remote.DataOwner` reviews it, runs the fit
in its own environment against the scientist's privacy budget, and returns only the DP
model and its privacy report, or a refusal that says why. See ``docs/remote.md``.

Everything runs offline, in one process: syft's mock Google Drive pairs the two sides
(``SyftRDSClient.pair_with_mock_drive_service_connection``). The private table is the
training split of UCI Adult, shipped with the package; the scientist scores the models
on the public test split.

This script is not run when the documentation is built (it needs the ``[syft]`` extra);
run it with ``python examples/remote_data_science.py``.
"""

# %%
# The two sides, paired over an in-memory mock Drive
# --------------------------------------------------
import contextlib
import io
import json
import shutil
import tempfile
from pathlib import Path

from syft_rds import SyftRDSClient

from sk_privattn import DPAttentionClassifier
from sk_privattn.datasets import load_adult
from sk_privattn.remote import RUNNER, DataOwner, DataScientist, JobRefusedError, make_request

folder = Path(tempfile.mkdtemp(prefix="sk_privattn_remote_"))
with contextlib.redirect_stdout(io.StringIO()):  # syft prints its progress
    scientist_client, owner_client = SyftRDSClient.pair_with_mock_drive_service_connection(
        email1="owner@hospital.org", email2="alice@uni.edu", base_path1=str(folder / "owner"),
        base_path2=str(folder / "alice"), use_in_memory_cache=False)

# %%
# The owner publishes the table
# -----------------------------
# The private rows stay with the owner; the scientists get a mock part (2,000 rows drawn
# from the public metadata alone) and the public metadata: the schema, the bounds, the
# categories, the labels, and the owner's terms (δ, the neighbouring relation). Every
# scientist gets a budget of ε = 2 on the dataset, kept in a JSON file across sessions.
# ``random_state=0`` makes this script's output reproducible; an owner leaves it out, and
# every fit then draws secret seeds.
train = load_adult(subset="train", as_frame=True)
test = load_adult(subset="test", as_frame=True)
owner = DataOwner(owner_client, ledger=folder / "budgets.json", epsilon=2.0, delta=1e-5, random_state=0)
owner.publish_dataset("adult", train.frame, target="income>50K", bounds=train.bounds,
                      categories=train.categories, classes=train.classes, n_mock_rows=2000)

# %%
# The scientist develops against the mock part
# --------------------------------------------
alice = DataScientist(scientist_client)
clf = DPAttentionClassifier(epsilon=1.0, max_epochs=5)
mock = alice.submit(clf, dataset="adult", data="mock").result()  # warns: trained on the mock
print(f"mock model: trained_on={mock.trained_on!r}, test accuracy "
      f"{mock.estimator.score(test.data, test.target):.3f} (it has seen no real row)")

# %%
# The same call, on the private part
# ----------------------------------
# The job carries the package's runner (the owner checks its SHA-256) and the request as
# JSON; the owner's ``review()`` runs it here, against Alice's budget.
job = alice.submit(clf, dataset="adult")
for decision in owner.review():
    print(f"owner: {decision.job} from {decision.scientist}: {decision.status}")
result = job.result()
print(f"private model: trained_on={result.trained_on!r}, test accuracy "
      f"{result.estimator.score(test.data, test.target):.3f}")
print(f"ε spent: {result.epsilon:.4f} at δ={result.delta:g} ({result.neighbouring}, per {result.unit}); "
      f"budget left: ε={result.budget['remaining_epsilon']:.4f} of ε={result.budget['epsilon']:g}")

# %%
# Refused jobs
# ------------
# A request that the owner would refuse is refused by the scientist's own call first: the
# seed of the DP noise is the owner's.
try:
    alice.submit(DPAttentionClassifier(epsilon=0.5, random_state=0), dataset="adult")
except JobRefusedError as refusal:
    print(f"refused before submission: {refusal}")

# A job whose runner was changed (here, by hand) is refused by the owner, by its hash.
tampered = folder / "tampered"
tampered.mkdir()
(tampered / "main.py").write_text(RUNNER.read_text() + "\nprint(open('data.csv').read())\n")
(tampered / "request.json").write_text(json.dumps(make_request(DPAttentionClassifier(epsilon=0.5), "adult")))
with contextlib.redirect_stdout(io.StringIO()):
    scientist_client.submit_python_job("owner@hospital.org", str(tampered), job_name="tampered",
                                       entrypoint="main.py")

# An overdraft: ε = 1.5 asked, about 1 left.
overdraft = alice.submit(DPAttentionClassifier(epsilon=1.5, max_epochs=5), dataset="adult")
for decision in owner.review():
    print(f"owner: {decision.job}: {decision.status}. {decision.message}")
try:
    overdraft.result()
except JobRefusedError as refusal:
    print(f"Alice receives: {refusal}")
print(f"owner's ledger: Alice spent ε={owner.budget('alice@uni.edu', 'adult')['spent_epsilon']:.4f}, "
      f"{len(owner.budget('alice@uni.edu', 'adult')['jobs'])} job(s) charged")
shutil.rmtree(folder)  # the syft folders and the ledger of this offline run
