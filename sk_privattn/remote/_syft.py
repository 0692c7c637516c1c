"""What the owner's and the scientist's sides share in their calls to syft.

syft-rds reports its progress with ``print``; these calls keep it out of the
caller's console (its warnings and errors still show). The package imports
nothing of syft itself: both sides call the client they are given.
"""

import contextlib
import io

__all__ = ["quiet"]


@contextlib.contextmanager
def quiet():
    """Keep syft's progress messages (printed) out of the caller's console."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield
