"""matplotlib as an optional dependency of the displays."""

from sklearn.utils._optional_dependencies import check_matplotlib_support


def check_matplotlib(caller_name):
    """Raise an ImportError that names the extra to install if matplotlib is missing."""
    try:
        check_matplotlib_support(caller_name)
    except ImportError as error:
        raise ImportError(
            f"{caller_name} requires matplotlib, an optional dependency of sk_privattn. "
            'Install it with: pip install "sk_privattn[plot]" (or pip install matplotlib).'
        ) from error
