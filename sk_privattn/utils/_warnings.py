"""Where a warning of ``fit`` points: at the caller's line, however deep it was raised."""

import os
import sys

__all__ = ["caller_stacklevel"]

# The package folder, sk_privattn/ (this file is in sk_privattn/utils/).
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# scikit-learn's ``_fit_context`` wraps every ``fit``: its frame is not the caller.
_SKLEARN_BASE = os.path.join("sklearn", "base.py")


def caller_stacklevel():
    """The ``stacklevel`` for :func:`warnings.warn` that names the first frame outside
    sk_privattn (and outside scikit-learn's ``fit`` wrapper).

    Call it in the argument list of ``warnings.warn``, so that level 1 is the
    function that warns. Counting the frames by hand breaks whenever the fit
    path gains or loses a call.
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None:
        filename = frame.f_code.co_filename
        if not (filename.startswith(_PACKAGE) or filename.endswith(_SKLEARN_BASE)):
            return level
        frame = frame.f_back
        level += 1
    return level
