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
