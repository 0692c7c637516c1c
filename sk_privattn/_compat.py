"""Where the modules of earlier versions went, so that what they wrote still loads.

A pickle names each class by its module: a fitted estimator pickled before the
``privacy`` and ``dpsgd`` packages (issue 33) names
``sk_privattn._training._PrivateNet``, ``sk_privattn._plan.TrainingPlan``,
``sk_privattn._relation.Neighbouring`` and ``sk_privattn._relation.DPCount``.
Each old module name below is registered in ``sys.modules`` as a module that
finds its names in the modules that hold them now; nothing imports them
otherwise. ``tests/test_golden.py`` loads a pickle written before the move.
"""

import importlib
import sys
import types

#: Old module -> the modules that hold its names now.
MOVED = {
    "sk_privattn._training": ("sk_privattn.dpsgd._net", "sk_privattn.dpsgd._train"),
    "sk_privattn._plan": ("sk_privattn.privacy._plan",),
    "sk_privattn._relation": ("sk_privattn.privacy._terms", "sk_privattn.privacy._count"),
}


def _moved_module(old, new):
    module = types.ModuleType(old, f"Moved: the names of {old} are now in {', '.join(new)}.")
    homes = [importlib.import_module(name) for name in new]

    def find(name):
        for home in homes:
            if hasattr(home, name):
                return getattr(home, name)
        raise AttributeError(f"module {old!r} (moved to {', '.join(new)}) has no attribute {name!r}")

    module.__getattr__ = find
    return module


def install():
    """Register each old module name of :data:`MOVED`."""
    for old, new in MOVED.items():
        sys.modules.setdefault(old, _moved_module(old, new))
