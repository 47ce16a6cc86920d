"""The import graph between the project's packages: each package may import only those below it.

benchmarks -> cli -> rehearsal -> delivery_steps, stacks -> training (contract, model_registry). Container code
(training/, inference/) imports only its siblings, by plain name, as in the containers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stacks.project import ROOT

PACKAGES = ("benchmarks", "cli", "rehearsal", "delivery_steps", "stacks", "training", "inference")
MAY_IMPORT = {
    "benchmarks": set(PACKAGES),
    "cli": {"cli", "rehearsal", "delivery_steps", "stacks", "training"},
    "rehearsal": {"rehearsal", "delivery_steps", "stacks", "training"},
    "delivery_steps": {"delivery_steps", "training"},
    "stacks": {"stacks", "training"},
    "training": set(),
    "inference": set(),
}


def project_imports(path: Path) -> set[str]:
    """The project packages a module imports (absolute imports, at any depth, lazy ones included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found |= {name.split(".")[0] for name in names} & set(PACKAGES)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_the_packages_below_it(package):
    upward = {path.relative_to(ROOT).as_posix(): project_imports(path) - MAY_IMPORT[package]
              for path in sorted((ROOT / package).rglob("*.py"))}  # fmt: skip
    wrong = {module: sorted(names) for module, names in upward.items() if names}
    assert not wrong, f"{package} may import only {sorted(MAY_IMPORT[package])}: {wrong}"


def test_the_check_sees_a_lazy_upward_import(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text("def run():\n    from cli.serve import run_serve\n    import benchmarks.report\n")
    assert project_imports(module) == {"cli", "benchmarks"}


# ---- no import circle, lazy imports included -------------------------------------------------------------
def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    found = {module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}
    return {**found, "app": ROOT / "app.py"}


def module_imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports, at any depth (an import placed in a function counts as at the top):
    ``from a.b import c`` is module a.b.c where that exists; container code's plain sibling imports resolve."""
    package = name.rsplit(".", 1)[0] if path.name != "__init__.py" else name
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        candidates: list[str] = []
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            candidates = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        for candidate in candidates:
            sibling = f"{package}.{candidate}" if package.split(".")[0] in ("training", "inference") else None
            for target in (candidate, sibling):
                if target in known and target != name:
                    found.add(target)
                    break
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_module_imports_itself_through_others_not_even_from_inside_a_function():
    """An import placed in a function to dodge a circle still makes the circle: the code is in the wrong module."""
    modules = project_modules()
    graph = {name: module_imports(name, path, set(modules)) for name, path in modules.items()}
    assert import_cycles(graph) == []


def test_the_cycle_check_sees_a_circle_closed_from_inside_a_function(tmp_path):
    (tmp_path / "first.py").write_text("from second import run\n")
    (tmp_path / "second.py").write_text("def run():\n    from first import x\n")
    known = {"first", "second"}
    graph = {name: module_imports(name, tmp_path / f"{name}.py", known) for name in known}
    assert import_cycles(graph) == [["first", "second"]]


# ---- sizes a newcomer can live in ------------------------------------------------------------------------
MAX_REHEARSAL_FILE_LINES = 400
MAX_CLASS_LINES = 200


def test_no_rehearsal_module_outgrows_a_reading_and_no_class_a_concern():
    too_long = {}
    for path in sorted((ROOT / "rehearsal").rglob("*.py")):
        source = path.read_text()
        if source.count("\n") > MAX_REHEARSAL_FILE_LINES:
            too_long[path.relative_to(ROOT).as_posix()] = source.count("\n")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef) and (node.end_lineno or 0) - node.lineno + 1 > MAX_CLASS_LINES:
                too_long[f"{path.relative_to(ROOT).as_posix()}:{node.name}"] = (node.end_lineno or 0) - node.lineno + 1
    assert too_long == {}, f"files over {MAX_REHEARSAL_FILE_LINES} lines or classes over {MAX_CLASS_LINES}"
