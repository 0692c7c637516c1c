"""The fixed runner of an sk_privattn remote job (the job's ``main.py``).

A job of :mod:`sk_privattn.remote` carries this file, unchanged, and
``request.json``: the estimator and its parameters, as data. The data owner
recognises the job by this file's SHA-256 and runs the fit in its own
environment, against the scientist's privacy budget
(``sk_privattn.remote.DataOwner.review``). It does not run this file.

Run by syft's ``run.sh`` instead (``job.approve()`` then
``process_approved_jobs()``, in a fresh job environment), it stops without
reading any data: a fit outside the owner's budget must not happen.
"""

import sys

MESSAGE = (
    "This is an sk_privattn remote job: its fit runs only through the data owner's budget. "
    "Review it with sk_privattn.remote.DataOwner(...).review() instead of approving it."
)

if __name__ == "__main__":
    sys.exit(MESSAGE)
