"""Each body of code checked against the Python it will meet, not the one it runs on here (3.11).

The jobs and the endpoint run in the Hugging Face DLCs (their py_version, stacks/images.py); the functions run on
the Lambda runtime of stacks/function.py, and the Baseline function also imports training modules. pyright checks
each set with that runtime's pythonVersion and the standard library typeshed gives that version, no interpreter
(``--pythonpath /bin/true``): a standard-library module removed by then does not resolve. Third-party imports do
not resolve either, and are left out: their versions are the runtime's own, not checked here.
"""

from __future__ import annotations

import json
import os
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


def stdlib_gone(python: str, paths: list[Path], workdir: Path) -> list[str]:
    """The standard-library imports of ``paths`` that do not resolve on ``python``. The project's own pyright
    settings (its venv) are left out: only imports are reported, and third-party ones are not looked for."""
    config = {
        "include": [os.path.relpath(path, workdir) for path in paths],
        "pythonVersion": python,
        "typeCheckingMode": "off",
        "reportMissingImports": "error",
        "reportMissingModuleSource": "error",
    }
    (workdir / "pyrightconfig.json").write_text(json.dumps(config))
    result = subprocess.run(
        [str(PYRIGHT), "--outputjson", "-p", str(workdir / "pyrightconfig.json"), "--pythonpath", "/bin/true"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    found = []
    for diagnostic in json.loads(result.stdout)["generalDiagnostics"]:
        module = diagnostic["message"].split('"')[1]
        if module.split(".")[0] in STDLIB:
            found.append(f"{Path(diagnostic['file']).name}:{diagnostic['range']['start']['line'] + 1} {module}")
    return sorted(found)


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_the_code_imports_only_what_its_runtimes_standard_library_still_has(runtime, tmp_path):
    python, paths = RUNTIMES[runtime]
    assert stdlib_gone(python(), [ROOT / path for path in paths], tmp_path) == [], f"{runtime} runs {python()}"


def test_the_check_sees_a_module_the_runtime_removed_that_this_machine_still_has(tmp_path):
    """Planted defect: `imp` (gone in 3.12) and `cgi` (gone in 3.13) import here, on 3.11, and not in the DLC."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("import cgi\nimport imp\nimport json\n")
    assert stdlib_gone("3.11", [code], tmp_path) == []
    assert stdlib_gone(dlc_python(), [code], tmp_path) == ["train.py:2 imp"]
    assert stdlib_gone(lambda_python(), [code], tmp_path) == ["train.py:1 cgi", "train.py:2 imp"]
