"""The data scientist's side: submit a fit as data, and get back the DP model and its report."""

import json
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path

from ..exceptions import JobPendingError, JobRefusedError
from ._data import read_metadata, read_part
from ._request import REQUEST_FILE, RUNNER, RUNNER_NAME, build_estimator, make_request, runner_sha256
from ._result import RESULT_FOLDER, check_on_schema, fit_job, privacy_terms, read_result, write_result
from ._syft import quiet

__all__ = ["DataScientist", "RemoteJob"]

#: Where a job's status says the owner has not decided yet.
_WAITING = {"received", "pending", "approved", "running"}


class DataScientist:
    """The data scientist's side of remote DP fits, on a syft-rds client with the scientist's role.

    Parameters
    ----------
    client : syft_rds.SyftRDSClient
        The scientist's client (``has_ds_role``), peered with the owners.
    """

    def __init__(self, client):
        if not getattr(client, "has_ds_role", False):
            raise ValueError("DataScientist needs the data scientist's client (a SyftRDSClient with has_ds_role).")
        self.client = client

    def _dataset(self, name, owner):
        with quiet():
            self.client.sync()
            found = [dataset for dataset in self.client.dataset_manager.get_all()
                     if dataset.name == name and owner in (None, dataset.owner)]
        if len(found) != 1:
            with quiet():
                available = sorted((dataset.name, dataset.owner) for dataset in self.client.dataset_manager.get_all())
            what = "no" if not found else f"{len(found)}"
            raise ValueError(
                f"{what} dataset named {name!r}{'' if owner is None else f' of {owner}'} is shared with you "
                f"(available: {available}).{' Name its owner.' if found else ''}"
            )
        return found[0]

    def metadata(self, dataset, owner=None):
        """The public metadata of ``dataset`` (:class:`PublicMetadata`): its schema and the owner's terms."""
        return read_metadata(self._dataset(dataset, owner).mock_dir)

    def submit(self, estimator, *, dataset, owner=None, data="private"):
        """Ask for ``estimator`` to be fitted on ``dataset``; the request is data, not code.

        Parameters
        ----------
        estimator : DPAttentionClassifier, DPAttentionRegressor or PrivateRandomSearch
            Unfitted. Its parameters that differ from the defaults travel as
            JSON; the owner supplies the public bounds, categories and labels
            of the dataset, its δ and relation, and the seeds.
        dataset : str
            The dataset's name.
        owner : str, default=None
            Its owner's email; needed only when two owners share a name.
        data : {"private", "mock"}, default="private"
            "private": submit a job that the owner reviews and runs on the
            private part. "mock": fit here, at once, on the mock part, with
            the very same request, to develop against (warned: the model
            says nothing of the private data, and no budget is spent).

        Returns
        -------
        RemoteJob

        Raises
        ------
        JobRefusedError
            For a request that the owner would refuse (checked here first).
        """
        if data not in ("private", "mock"):
            raise ValueError(f"data={data!r}; use 'private' (a job for the owner) or 'mock' (a fit here).")
        found = self._dataset(dataset, owner)
        metadata = read_metadata(found.mock_dir)
        request = make_request(estimator, dataset)
        # What the owner will check before it reads a row, checked here first.
        checked, requested = build_estimator(request, metadata)
        check_on_schema(checked, metadata)
        if data == "mock":
            return RemoteJob._fitted_on_mock(self, request, found, metadata, checked, requested)
        return self._submit(request, found.owner)

    def _submit(self, request, owner):
        peers = {peer.email for peer in self.client.peer_manager.syncable_peers}
        if owner not in peers:
            raise ValueError(f"{owner} is not among your peers; add them first: client.add_peer({owner!r}).")
        name = f"sk_privattn-{request['estimator']['class']}-{uuid.uuid4().hex[:8]}"
        with tempfile.TemporaryDirectory(prefix="sk_privattn_job_") as folder:
            shutil.copyfile(RUNNER, Path(folder) / RUNNER_NAME)
            (Path(folder) / REQUEST_FILE).write_text(json.dumps(request, indent=1))
            with quiet():
                self.client.submit_python_job(owner, folder, job_name=name, entrypoint=RUNNER_NAME)
        return RemoteJob(self.client, name, request["dataset"], owner)

    def __repr__(self):
        return f"DataScientist({self.client.email!r})"


class RemoteJob:
    """A fit asked of a data owner; :meth:`result` gives its model once the owner has reviewed it.

    Returned by :meth:`DataScientist.submit`; not built by hand.

    Attributes
    ----------
    name : str
        The syft job's name.
    dataset : str
    owner : str
    trained_on : {"private", "mock"}
    """

    def __init__(self, client, name, dataset, owner, trained_on="private", result=None):
        self.client = client
        self.name = name
        self.dataset = dataset
        self.owner = owner
        self.trained_on = trained_on
        self._result = result

    @classmethod
    def _fitted_on_mock(cls, scientist, request, found, metadata, estimator, requested):
        X, y = read_part(found.mock_dir, metadata)
        fitted = fit_job(estimator, X, y)
        report = {**privacy_terms(fitted), "trained_on": "mock", "dataset": request["dataset"], "owner": found.owner,
                  "job": None, "requested_epsilon": requested, "budget": None, "runner_sha256": runner_sha256()}
        with tempfile.TemporaryDirectory(prefix="sk_privattn_mock_") as folder:
            result = read_result(write_result(Path(folder) / RESULT_FOLDER, fitted, report))
        warnings.warn(
            f"This model was trained here, on the mock part of {request['dataset']!r}: it says nothing about "
            "the private data, and no privacy budget was spent. Submit the same call with data='private' for a "
            "model trained on the private part by its owner.",
            UserWarning,
            stacklevel=3,
        )
        return cls(scientist.client, None, request["dataset"], found.owner, "mock", result)

    def _job(self):
        with quiet():
            self.client.sync()
            jobs = [job for job in self.client.job_client.jobs
                    if job.name == self.name and job.datasite_owner_email == self.owner]
        if not jobs:
            raise JobPendingError(f"The job {self.name!r} is not in the syft folder of {self.owner} (yet).")
        return jobs[0]

    @property
    def status(self):
        """The job's status: "done" or "mock" with a result, "refused", or syft's status while waiting."""
        if self._result is not None:
            return "mock" if self.trained_on == "mock" else "done"
        status = self._job().status
        return "refused" if status == "rejected" else status

    def result(self):
        """The fitted model and its privacy report.

        Returns
        -------
        RemoteResult

        Raises
        ------
        JobRefusedError
            With the owner's message, when the owner refused the job.
        JobPendingError
            While the owner has not reviewed the job.
        """
        if self._result is not None:
            return self._result
        job = self._job()
        if job.status == "rejected":
            raise JobRefusedError(job.review_reason or f"The owner refused the job {self.name!r}.")
        if job.status in _WAITING:
            raise JobPendingError(
                f"The job {self.name!r} is {job.status}: {self.owner} has not reviewed it yet. Ask again once "
                "they have (DataOwner.review())."
            )
        with quiet():
            outputs = [Path(path) for path in job.output_paths if Path(path).name == RESULT_FOLDER]
        if job.status != "done" or not outputs:
            raise JobRefusedError(
                f"The job {self.name!r} ended {job.status!r} without an sk_privattn result: it was run by syft's "
                "run.sh (whose runner stops at once) instead of the owner's review."
            )
        self._result = read_result(outputs[0])
        return self._result

    def __repr__(self):
        return (f"RemoteJob({self.name!r}, dataset={self.dataset!r}, owner={self.owner!r}, "
                f"trained_on={self.trained_on!r})")
