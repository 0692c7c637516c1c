"""The data owner's side: publish a dataset, review the jobs against each scientist's budget."""

import hashlib
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import BudgetExceededError, JobRefusedError
from ._budgets import BudgetLedger
from ._data import (
    METADATA_FILE,
    PublicMetadata,
    check_labels,
    read_metadata,
    read_part,
    synthetic_mock,
    with_a_row_if_empty,
    write_part,
)
from ._request import MAX_REQUEST_BYTES, REQUEST_FILE, RUNNER_NAME, build_estimator, read_request, runner_sha256
from ._result import RESULT_FOLDER, check_on_schema, fit_job, privacy_terms, write_result
from ._syft import quiet

__all__ = ["DataOwner", "Decision"]

#: Files of a job's code folder that syft may add (its permission files).
_SYFT_FILES = {"syft.pub.yaml"}


@dataclass(frozen=True)
class Decision:
    """What :meth:`DataOwner.review` did with one job. The owner's record: ``random_state``
    and ``error`` are never sent to the scientist.

    Attributes
    ----------
    job : str
        The job's name.
    scientist : str
        Who submitted it (their email, from syft's job path).
    dataset : str or None
    status : {"done", "refused", "held"}
        "held": the job waits, unread, since an earlier job of the scientist
        failed after reading the rows (:meth:`DataOwner.release`).
    message : str
        What the scientist receives with a refusal (empty for a done or held job).
    requested_epsilon : float or None
    epsilon : float
        What the job was charged: the fit's ``epsilon_``, 0.0 when refused
        before it ran, the requested ε when the fit failed.
    remaining_epsilon : float or None
        The scientist's budget left on the dataset.
    random_state : int or None
        The seed of the fit (``None``: secret seeds).
    error : str or None
        The traceback of a fit that failed.
    """

    job: str
    scientist: str
    dataset: str
    status: str
    message: str
    requested_epsilon: float
    epsilon: float
    remaining_epsilon: float
    random_state: int = None
    error: str = None


class DataOwner:
    """The data owner's side of remote DP fits, on a syft-rds client with the owner's role.

    Scientists submit jobs with :class:`DataScientist`; :meth:`review` runs
    the acceptable ones in this process (never syft's ``run.sh`` and its job
    environment), against a budget of ε per scientist and per dataset that
    persists in ``ledger``, and sends each scientist their model or the
    reason for a refusal.

    Parameters
    ----------
    client : syft_rds.SyftRDSClient
        The owner's client (``has_do_role``).
    ledger : str or path-like
        The JSON file of the budgets (:class:`BudgetLedger`); reopened with
        the same path, it keeps what was spent.
    epsilon : float
        The budget of every scientist on every dataset.
    delta : float, default=1e-5
        The δ of every job, and so of every ε spent.
    neighbouring : {"add_or_remove", "replace_one"}, default="add_or_remove"
        The relation of every ε spent.
    random_state : int or None, default=None
        ``None``: every fit draws secret seeds. An int seeds each job's fit
        with a seed derived from it, the scientist, the dataset and the
        number of the scientist's jobs charged before
        (``Decision.random_state``), for the owner to reproduce a fit; never
        released (the released model's ``random_state`` is ``None``).

    Attributes
    ----------
    budgets : BudgetLedger
    """

    def __init__(self, client, *, ledger, epsilon, delta=1e-5, neighbouring="add_or_remove", random_state=None):
        if not getattr(client, "has_do_role", False):
            raise ValueError("DataOwner needs the data owner's client (a SyftRDSClient with has_do_role).")
        if random_state is not None and not isinstance(random_state, int):
            raise ValueError(f"random_state={random_state!r}; use None (secret seeds) or an int.")
        self.client = client
        self.budgets = BudgetLedger(ledger, epsilon=epsilon, delta=delta, neighbouring=neighbouring)
        self.random_state = random_state

    # -- datasets ------------------------------------------------------------

    def publish_dataset(self, name, private, *, target, bounds, categories=None, classes=None, target_bounds=None,
                        public_count=None, mock=None, n_mock_rows=200, summary=None, users="any"):
        """Publish a table as a syft dataset: its private part stays here, its mock part is shared.

        Parameters
        ----------
        name : str
        private : DataFrame
            The private rows, with the target column.
        target : str
            The target's column.
        bounds : dict of str to (float, float)
            Public bounds of each numeric feature.
        categories : dict of str to list, default=None
            The public category list of each categorical feature (every
            other feature is numeric).
        classes : list, default=None
            The public labels, for a classification.
        target_bounds : (float, float), default=None
            Public bounds of the target, for a regression.
        public_count : int, default=None
            A number of rows to publish; ``None`` keeps it private.
        mock : DataFrame, default=None
            The mock rows; ``None`` draws ``n_mock_rows`` from the public
            metadata alone (:func:`synthetic_mock`).
        n_mock_rows : int, default=200
        summary : str, default=None
        users : list of str or "any", default="any"
            Who may see the mock part.

        Returns
        -------
        PublicMetadata
            What the scientists see of the dataset besides its mock rows.
        """
        metadata = PublicMetadata(
            target=target,
            task="classification" if classes is not None else "regression",
            features=[column for column in private.columns if column != target],
            categories={feature: [str(value) for value in values] for feature, values in (categories or {}).items()},
            bounds={feature: (float(low), float(high)) for feature, (low, high) in bounds.items()},
            classes=None if classes is None else [getattr(label, "item", lambda: label)() for label in classes],
            target_bounds=None if target_bounds is None else tuple(float(value) for value in target_bounds),
            public_count=public_count,
            delta=self.budgets.delta,
            neighbouring=self.budgets.neighbouring.relation,
        )
        if mock is None:
            mock = synthetic_mock(metadata, n_mock_rows)
        check_labels(private, metadata)  # the owner learns now if a label is not among the classes
        with tempfile.TemporaryDirectory(prefix="sk_privattn_dataset_") as folder:
            mock_part = write_part(Path(folder) / "mock", mock, metadata)
            private_part = write_part(Path(folder) / "private", private, metadata)
            with quiet():
                self.client.create_dataset(name=name, mock_path=mock_part, private_path=private_part,
                                           summary=summary or f"sk_privattn dataset: {metadata.task} of {target!r}",
                                           users=users)
        return metadata

    def _dataset(self, name):
        """The metadata and private folder of this owner's dataset ``name``; refuse if there is none."""
        try:
            with quiet():
                dataset = self.client.dataset_manager.get(name=name, datasite=self.client.email)
            private = Path(dataset.private_dir)
        except Exception:
            raise JobRefusedError(f"The owner has no dataset named {name!r}.") from None
        if not (private / METADATA_FILE).is_file():
            raise JobRefusedError(f"The dataset {name!r} was not published for sk_privattn jobs (it has no metadata).")
        metadata = read_metadata(private)
        if (metadata.delta, metadata.neighbouring) != (self.budgets.delta, self.budgets.neighbouring.relation):
            raise JobRefusedError(
                f"The dataset {name!r} was published under other terms (δ={metadata.delta:g}, "
                f"{metadata.neighbouring}) than the owner's budgets; the owner must publish it again."
            )
        return metadata, private

    # -- jobs ----------------------------------------------------------------

    def _read_job(self, job):
        """The request of ``job``; refuse anything but the package's runner and one request."""
        code = Path(job.code_dir)
        entries = sorted(path.name for path in code.iterdir() if path.name not in _SYFT_FILES) if code.is_dir() else []
        if entries != sorted([RUNNER_NAME, REQUEST_FILE]):
            raise JobRefusedError(
                f"This is not an sk_privattn job: its code holds {entries}, not exactly {RUNNER_NAME} (the "
                f"package's runner) and {REQUEST_FILE}. The owner runs sk_privattn jobs only; submit with "
                "sk_privattn.remote.DataScientist.submit."
            )
        digest = hashlib.sha256((code / RUNNER_NAME).read_bytes()).hexdigest()
        if digest != runner_sha256():
            raise JobRefusedError(
                f"{RUNNER_NAME} is not the runner of sk_privattn (its SHA-256 is {digest[:16]}..., the owner "
                f"expects {runner_sha256()[:16]}...): the owner runs no other code. Submit with "
                "sk_privattn.remote.DataScientist.submit, from the same sk_privattn version as the owner."
            )
        request_file = code / REQUEST_FILE
        if request_file.stat().st_size > MAX_REQUEST_BYTES:
            raise JobRefusedError(f"{REQUEST_FILE} is larger than {MAX_REQUEST_BYTES:,} bytes.")
        return read_request(request_file.read_text())

    def _seed(self, scientist, dataset):
        """The seed of the next fit for ``scientist`` on ``dataset``: ``None`` (secret seeds), or one
        derived from ``random_state``, the scientist, the dataset and the number of their jobs
        charged so far, so that no two fits share their noise."""
        if self.random_state is None:
            return None
        index = len(self.budgets.jobs(scientist, dataset))
        digest = hashlib.sha256(f"{self.random_state}/{scientist}/{dataset}/{index}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % (2**31 - 1)

    def _pending_jobs(self):
        with quiet():
            self.client.sync()
            jobs = list(self.client.job_client.jobs)
        mine = [job for job in jobs if job.status == "pending" and job.datasite_owner_email == self.client.email]
        return sorted(mine, key=lambda job: job.submitted_at or "")

    def review(self):
        """Review every pending job, oldest first: run the acceptable ones, refuse the others.

        A job is refused, with a message that the scientist receives, when
        its code is not the package's runner (by SHA-256) and one
        ``request.json``; when it names no dataset of this owner; when a
        parameter fails the check of its class (an unknown parameter, the seed,
        another δ, classes other than the metadata's, ...) or the estimator's
        own validation on rows drawn from the public metadata; or when the ε it
        asks for, added to what the scientist has spent on the dataset, exceeds
        their budget. Every refusal is decided before any private row is read,
        from the request, the metadata and the ledger alone.

        An accepted job is charged the ε it asks for, fitted here on the
        private part (a fit that is total on any table of the dataset's schema),
        charged what the fit spent (``epsilon_``), and its model (saved without
        pickle) and privacy report are deposited as the job's result: that is
        all the scientist receives. A fit that fails all the same once it has
        read the rows (an exhausted machine, a bug) is refused with a fixed
        message and charged what it asked for, and the scientist's further jobs
        are held, unread, until the owner has looked at it and calls
        :meth:`release`.

        Returns
        -------
        list of Decision
        """
        decisions = [self._review(job) for job in self._pending_jobs()]
        with quiet():
            self.client.sync()
        return decisions

    def release(self, scientist):
        """Let the held jobs of ``scientist`` run again, once the owner has looked at the failed fit
        that held them (its traceback is in that job's :class:`Decision`); the next :meth:`review`
        runs them.

        Parameters
        ----------
        scientist : str
            Their email.

        Raises
        ------
        ValueError
            If their jobs are not held.
        """
        self.budgets.release(scientist)

    def _refuse(self, job, scientist, dataset, message, requested=None, epsilon=0.0, error=None):
        with quiet():
            job.reject(message)
        remaining = None if dataset is None else self.budgets.remaining_epsilon(scientist, dataset)
        return Decision(job.name, scientist, dataset, "refused", message, requested, epsilon, remaining, error=error)

    def _review(self, job):
        scientist, dataset, requested = job.submitted_by, None, None
        if self.budgets.held(scientist) is not None:
            return Decision(job.name, scientist, None, "held", "", None, 0.0, None)
        try:
            request = self._read_job(job)
            metadata, private = self._dataset(request["dataset"])
            dataset = request["dataset"]
            estimator, requested = build_estimator(request, metadata)
            check_on_schema(estimator, metadata)
            if self.budgets.has_job(scientist, dataset, job.name):
                raise JobRefusedError(f"The job {job.name!r} was already run; submit a new job.")
            seed = self._seed(scientist, dataset)
            self.budgets.reserve(scientist, dataset, job.name, requested, type(estimator).__name__)
        except (JobRefusedError, BudgetExceededError) as refusal:
            return self._refuse(job, scientist, dataset, f"Refused: {refusal}", requested)
        estimator.set_params(random_state=seed)
        try:
            fitted = fit_job(estimator, *with_a_row_if_empty(*read_part(private, metadata)))
        except Exception:
            return self._failed(job, scientist, dataset, requested, metadata.delta, traceback.format_exc())
        return self._deposit(job, scientist, dataset, requested, seed, fitted)

    def _failed(self, job, scientist, dataset, requested, delta, error):
        """A fit that failed after it read the rows: it stays charged what it asked for, its message
        says nothing of them, and the scientist's next jobs wait (:meth:`release`), so that whether
        a fit fails tells them one bit at most."""
        self.budgets.settle(scientist, dataset, job.name, epsilon=requested, delta=delta, status="failed")
        self.budgets.hold(scientist, dataset, job.name)
        message = (f"Refused: the fit failed on the owner's side after it read the data (the owner has the "
                   f"error). It was charged the ε={requested:.4g} it asked for; nothing was released. Your "
                   "further jobs wait until the owner has looked at the failure and released them.")
        return self._refuse(job, scientist, dataset, message, requested, requested, error)

    def _deposit(self, job, scientist, dataset, requested, seed, fitted):
        """Charge what the fit spent and deposit its model and report as the job's result."""
        self.budgets.settle(scientist, dataset, job.name, epsilon=fitted.epsilon_, delta=fitted.delta_)
        spent_epsilon, spent_delta = self.budgets.spent(scientist, dataset)
        remaining = self.budgets.remaining_epsilon(scientist, dataset)
        report = {
            **privacy_terms(fitted),
            "trained_on": "private",
            "dataset": dataset,
            "owner": self.client.email,
            "job": job.name,
            "requested_epsilon": requested,
            "budget": {"epsilon": self.budgets.epsilon, "spent_epsilon": spent_epsilon, "spent_delta": spent_delta,
                       "remaining_epsilon": remaining, "composition": "basic"},
            "runner_sha256": runner_sha256(),
        }
        with tempfile.TemporaryDirectory(prefix="sk_privattn_result_") as folder:
            result = write_result(Path(folder) / RESULT_FOLDER, fitted, report)
            with quiet():
                job.accept_by_depositing_result(str(result))
                job.share_outputs([scientist])
        return Decision(job.name, scientist, dataset, "done", "", requested, float(fitted.epsilon_), remaining, seed)

    def budget(self, scientist, dataset):
        """``scientist``'s budget on ``dataset``: a dict of ``epsilon``, ``spent_epsilon``,
        ``spent_delta``, ``remaining_epsilon`` and the ``jobs`` charged."""
        spent_epsilon, spent_delta = self.budgets.spent(scientist, dataset)
        return {"epsilon": self.budgets.epsilon, "spent_epsilon": spent_epsilon, "spent_delta": spent_delta,
                "remaining_epsilon": self.budgets.remaining_epsilon(scientist, dataset),
                "jobs": self.budgets.jobs(scientist, dataset)}

    def __repr__(self):
        return f"DataOwner({self.client.email!r}, {self.budgets!r})"
