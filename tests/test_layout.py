"""The package's layout (docs/architecture.md): imports flow one way, with no circle; each
privacy term is named in one place; a pickle written before the layout still names its classes."""

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import sk_privattn

PACKAGE = Path(sk_privattn.__file__).parent


def _modules():
    """Every module of the package, by name, with its source file."""
    found = {"sk_privattn": PACKAGE / "__init__.py"}
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="sk_privattn."):
        spec = importlib.util.find_spec(info.name)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            found[info.name] = Path(spec.origin)
    return found


MODULES = _modules()


def _imports(name, path):
    """The modules of the package that module ``name`` imports (at any depth of its code)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                if f"{module}.{alias.name}" in MODULES:
                    targets.add(f"{module}.{alias.name}")
                elif module in MODULES:
                    targets.add(module)
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names if alias.name in MODULES)
    return targets - {name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle():
    """A cycle of the import graph, as a list of modules, or ``None``."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(GRAPH[node]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(GRAPH):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_import_graph_has_no_circle():
    assert _cycle() is None


def _reaches(start):
    seen, todo = set(), [start]
    while todo:
        for target in GRAPH[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


ESTIMATOR_CODE = {"sk_privattn._base", "sk_privattn._tabular", "sk_privattn._classification", "sk_privattn._series",
                  "sk_privattn.classifier", "sk_privattn.regressor", "sk_privattn.sequence", "sk_privattn.preprocessing"}


@pytest.mark.parametrize("layer, forbidden", [
    ("sk_privattn.privacy", {"sk_privattn.dpsgd"} | ESTIMATOR_CODE),
    ("sk_privattn.dpsgd", ESTIMATOR_CODE | {"sk_privattn.data"}),
    ("sk_privattn.data", ESTIMATOR_CODE),
])
def test_imports_flow_one_way_privacy_then_dpsgd_then_the_estimators(layer, forbidden):
    modules = [name for name in MODULES if name == layer or name.startswith(layer + ".")]
    reached = set().union(*(_reaches(name) | {name} for name in modules))
    leaks = {name for name in reached if any(name == f or name.startswith(f + ".") for f in forbidden)}
    assert not leaks, f"{layer} reaches {sorted(leaks)}"


#: The names of the relations and units, which only sk_privattn.privacy._terms defines.
TERMS = {"add_or_remove", "replace_one", "row", "person", "site"}


def test_no_module_compares_against_a_bare_name_of_a_relation_or_unit():
    offenders = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                for operand in operands:
                    values = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
                    if any(isinstance(v, ast.Constant) and v.value in TERMS for v in values):
                        offenders.append(f"{name}:{node.lineno}")
    assert not offenders


def test_a_pickle_of_an_earlier_layout_finds_its_classes_under_their_old_module_names():
    import pickle

    from sk_privattn.dpsgd._net import _PrivateNet
    from sk_privattn.privacy import DPCount, Neighbouring, TrainingPlan

    old = {("sk_privattn._training", "_PrivateNet"): _PrivateNet, ("sk_privattn._plan", "TrainingPlan"): TrainingPlan,
           ("sk_privattn._relation", "Neighbouring"): Neighbouring, ("sk_privattn._relation", "DPCount"): DPCount}
    for (module, qualname), cls in old.items():
        assert pickle.loads(f"c{module}\n{qualname}\n.".encode()) is cls


def test_an_old_pickled_neighbouring_holds_the_enums():
    import pickle

    from sk_privattn.privacy import Neighbouring, Relation, Unit

    # What a Neighbouring pickled before the enums holds: the names as plain strings.
    state = {"relation": "replace_one", "unit": "person"}
    restored = Neighbouring.__new__(Neighbouring)
    restored.__setstate__(state)
    assert restored.relation is Relation.REPLACE_ONE and restored.unit is Unit.PERSON
    assert pickle.loads(pickle.dumps(restored)) == Neighbouring("replace_one", "person")
