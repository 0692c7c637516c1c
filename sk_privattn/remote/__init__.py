"""Remote data science with PySyft: DP fits that a data owner reviews and runs, against a budget per scientist.

A data scientist never sees the private table. With syft-rds (``pip install
sk_privattn[syft]``, syft 0.10) they submit a job that asks, as data, for
one of the package's estimators with given parameters on a dataset; the data
owner reviews it, runs the fit in its own environment against the
scientist's privacy budget on that dataset, and returns only the DP model
(saved without pickle) and its privacy report, or a refusal that says why.

- Scientist: :class:`DataScientist` ``.submit(estimator, dataset=...)``
  returns a :class:`RemoteJob`, whose ``result()`` is a
  :class:`RemoteResult`. With ``data="mock"`` the same call fits the mock
  part here, at once, and says so.
- Owner: :class:`DataOwner` ``.publish_dataset(...)`` shares a table (its
  mock part, and the public metadata of :class:`PublicMetadata`);
  ``.review()`` decides every pending job (:class:`Decision`). The budgets
  persist in a JSON file (:class:`BudgetLedger`), per scientist and per
  dataset, composed by basic composition.
- A job: the runner :data:`RUNNER` (known by :func:`runner_sha256`) and the
  request of :func:`make_request`, as JSON.

The package imports nothing of syft: both sides take the client they are
given (``syft_rds.SyftRDSClient``). See docs/remote.md for the threat model
and the commands.
"""

from ..exceptions import JobPendingError, JobRefusedError
from ._budgets import BudgetLedger
from ._data import PublicMetadata, synthetic_mock
from ._owner import DataOwner, Decision
from ._request import RUNNER, make_request, runner_sha256
from ._result import RemoteResult
from ._scientist import DataScientist, RemoteJob

__all__ = [
    "BudgetLedger",
    "DataOwner",
    "DataScientist",
    "Decision",
    "JobPendingError",
    "JobRefusedError",
    "PublicMetadata",
    "RUNNER",
    "RemoteJob",
    "RemoteResult",
    "make_request",
    "runner_sha256",
    "synthetic_mock",
]
