"""The syft client of a data owner, as much of it as ``sk_privattn.remote.DataOwner`` calls, for
tests that need the owner's decisions and replies without syft's mock Drive (seconds per job).

``tests/test_remote.py`` runs the same owner over syft itself; here a job is a folder with the
runner and a request, and what the scientist receives is its status, the reason of a refusal,
and the result deposited into ``outputs/``.
"""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

from sk_privattn.remote import RUNNER

OWNER = "owner@hospital.org"
ALICE = "alice@uni.edu"


class Job:
    """One pending job of ``scientist`` asking ``request``, its code in ``folder / name``."""

    def __init__(self, folder, request, name="job-1", scientist=ALICE):
        self.name = name
        self.code_dir = Path(folder) / name / "code"
        self.code_dir.mkdir(parents=True)
        shutil.copyfile(RUNNER, self.code_dir / "main.py")
        (self.code_dir / "request.json").write_text(json.dumps(request))
        self.outputs = Path(folder) / name / "outputs"
        self.submitted_by, self.datasite_owner_email, self.submitted_at = scientist, OWNER, name
        self.status, self.review_reason = "pending", None

    def reject(self, message):
        self.status, self.review_reason = "rejected", message

    def accept_by_depositing_result(self, path):
        shutil.copytree(path, self.outputs / Path(path).name)
        self.status = "done"

    def share_outputs(self, users):
        pass

    def reply(self):
        """What the scientist receives: the status, the reason of a refusal, the model."""
        from sk_privattn.persistence import load

        models = list(self.outputs.rglob("model.zip"))
        return {"status": self.status, "reason": self.review_reason, "model": load(models[0]) if models else None}


class OwnerClient:
    """The owner's client: one dataset, whose private part is the folder ``private``, and ``jobs``."""

    has_do_role = True
    email = OWNER

    def __init__(self, private, jobs=()):
        dataset = SimpleNamespace(private_dir=str(private))
        self.dataset_manager = SimpleNamespace(get=lambda name, datasite: dataset)
        self.job_client = SimpleNamespace(jobs=list(jobs))

    def sync(self):
        pass
