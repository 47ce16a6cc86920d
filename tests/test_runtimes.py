"""Each body of code checked against the Python it will meet, not the one it runs on here (3.11).

The jobs and the endpoint run in the Hugging Face DLCs (their py_version, stacks/images.py); the functions run on
the Lambda runtime of stacks/function.py, and the Baseline function also imports training modules. pyright checks
each set with that runtime's pythonVersion and the standard library typeshed gives that version, no interpreter
(``--pythonpath /bin/true``): a standard-library module removed by then does not resolve. Third-party imports do
not resolve either, and are left out: their versions are the runtime's own, not checked here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.baseline import MODULES
from stacks.function import RUNTIME
from stacks.images import TRAINING_IMAGE
from stacks.project import ROOT

PYRIGHT = ROOT / "node_modules" / ".bin" / "pyright"
STDLIB = set(sys.stdlib_module_names)


def dlc_python() -> str:
    """The DLCs' Python as the image URIs name it ("py312"), as pyright takes it ("3.12")."""
    version = TRAINING_IMAGE["py_version"].removeprefix("py")
    return f"{version[0]}.{version[1:]}"


def lambda_python() -> str:
    return RUNTIME.name.removeprefix("python")


RUNTIMES = {
    "jobs and endpoint (HF DLCs)": (dlc_python, ["training", "inference"]),
    "Lambda functions": (
        lambda_python,
        ["stacks/functions", *(f"training/{module}" for module in MODULES)],
    ),
}


def stdlib_gone(python: str, paths: list[str], cwd: Path = ROOT) -> list[str]:
    """The standard-library imports of ``paths`` that do not resolve on ``python``."""
    result = subprocess.run(
        [str(PYRIGHT), "--outputjson", "--pythonversion", python, "--pythonpath", "/bin/true", *paths],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    found = []
    for diagnostic in json.loads(result.stdout)["generalDiagnostics"]:
        if diagnostic.get("rule") not in ("reportMissingImports", "reportMissingModuleSource"):
            continue
        module = diagnostic["message"].split('"')[1]
        if module.split(".")[0] in STDLIB:
            where = f"{Path(diagnostic['file']).relative_to(cwd)}:{diagnostic['range']['start']['line'] + 1}"
            found.append(f"{where} {module}")
    return found


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_the_code_imports_only_what_its_runtimes_standard_library_still_has(runtime):
    python, paths = RUNTIMES[runtime]
    assert stdlib_gone(python(), paths) == [], f"{runtime} runs Python {python()}"


def test_the_check_sees_a_module_the_runtime_removed_that_this_machine_still_has(tmp_path):
    """Planted defect: `imp` (gone in 3.12) and `cgi` (gone in 3.13) import here, on 3.11, and not in the DLC."""
    (tmp_path / "train.py").write_text("import cgi\nimport imp\nimport json\n")
    assert stdlib_gone("3.11", ["train.py"], tmp_path) == []
    assert stdlib_gone(dlc_python(), ["train.py"], tmp_path) == ["train.py:2 imp"]
    assert stdlib_gone(lambda_python(), ["train.py"], tmp_path) == ["train.py:1 cgi", "train.py:2 imp"]
