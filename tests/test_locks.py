"""Hash-locked installs (locks/): what CI installs is exactly the locks, and a look-alike file is refused."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "locks"
# What the project's own venv holds beside the locks: pip itself and the project (installed from source).
NOT_LOCKED = {"pip", "textclf-mlops"}


def locked(path: Path) -> dict[str, Version]:
    """name -> version of every requirement in a lock; each must be pinned with == and carry a hash."""
    pins = {}
    for block in re.split(r"\n(?=\S)", path.read_text()):
        line = block.strip()
        if not line or line.startswith(("#", "--")):
            continue
        requirement = Requirement(line.split("\\")[0].strip())
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name}: {requirement} is not pinned with =="
        assert "--hash=sha256:" in block, f"{path.name}: {requirement} has no hash"
        pins[canonicalize_name(requirement.name)] = Version(specifier.version)
    return pins


def requirements(path: Path) -> list[Requirement]:
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            found += requirements(path.parent / line[3:].strip())
        elif line:
            found.append(Requirement(line))
    return found


def test_every_lock_pins_each_package_with_its_hashes():
    for lock in LOCKS.glob("*.lock"):
        assert locked(lock), f"{lock.name} locks nothing"


@pytest.mark.parametrize(
    "sources, lock",
    [
        (
            ["requirements-dev.txt", "requirements-serving.txt", "requirements-offline-model.txt"],
            ["python.lock", "torch.lock"],
        ),
        (["requirements-checkov.txt"], ["checkov.lock"]),
        (["requirements-inference-dlc.txt"], ["inference-dlc.lock"]),
    ],
)
def test_the_locks_satisfy_every_requirement(sources, lock):
    pins = {name: version for name_ in lock for name, version in locked(LOCKS / name_).items()}
    for source in sources:
        for requirement in requirements(ROOT / source):
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{source}: {requirement} is in no lock. Fix: run locks/regenerate.sh"
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"{source}: {requirement}, but the lock has {pins[name]}. Fix: run locks/regenerate.sh"
            )


def test_the_environment_ci_installed_is_exactly_the_locks():
    pins = {**locked(LOCKS / "python.lock"), **locked(LOCKS / "torch.lock")}
    installed = {
        canonicalize_name(d.metadata["Name"]): Version(d.version)
        for d in metadata.distributions(path=[p for p in sys.path if p.startswith(sys.prefix)])
    }
    for name in NOT_LOCKED:
        installed.pop(name, None)
    assert installed == pins, (
        f"not locked: {sorted(set(installed) - set(pins))}; missing: {sorted(set(pins) - set(installed))}; "
        f"other versions: {sorted(n for n in set(pins) & set(installed) if pins[n] != installed[n])}"
    )


def test_every_install_make_runs_is_hash_locked():
    dry_run = subprocess.run(["make", "-n", "-B", "install"], cwd=ROOT, capture_output=True, text=True, check=True)
    commands = dry_run.stdout.replace("\\\n", " ").splitlines()
    installs = [c for c in commands if "pip install" in c]
    assert len(installs) == 5, installs
    for command in installs:
        project = command.rstrip().endswith(" -e .") and "--no-build-isolation" in command and "--no-deps" in command
        assert project or re.search(r"--require-hashes --no-deps\s+-r locks/[\w-]+\.lock", command), command
    assert not any("index-url" in c for c in commands), "an index is chosen by the locks, never by make"


def test_a_look_alike_of_a_locked_release_is_refused(tmp_path):
    """Another index serving six at the locked version, with other bytes: pip refuses it before installing."""
    (block,) = [b for b in re.split(r"\n(?=\S)", (LOCKS / "release.lock").read_text()) if b.startswith("six==")]
    (tmp_path / "six.lock").write_text(block + "\n")
    version = str(locked(tmp_path / "six.lock")["six"])
    index = tmp_path / "index"
    index.mkdir()
    with zipfile.ZipFile(index / f"six-{version}-py2.py3-none-any.whl", "w") as wheel:
        wheel.writestr("six.py", "raise SystemExit('look-alike')\n")
        info = f"six-{version}.dist-info"
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: six\nVersion: {version}\n")
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")
    install = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(index), "--no-deps"]
    install += ["--target", str(tmp_path / "target"), "--disable-pip-version-check"]
    locked_install = [*install, "--require-hashes", "-r", str(tmp_path / "six.lock")]
    refused = subprocess.run(locked_install, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "DO NOT MATCH THE HASHES" in refused.stderr
    assert not (tmp_path / "target" / "six.py").exists()
    # The same file without the lock's hashes would have gone in.
    taken = subprocess.run([*install, f"six=={version}"], capture_output=True, text=True)
    assert taken.returncode == 0, taken.stderr
