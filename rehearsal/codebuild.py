"""The delivery pipeline's CodeBuild steps, checked against the image and the programs that run them.

Every CodeBuild project of the synthesized delivery stack names an image and a buildspec. CodeBuild
runs each command of the buildspec with ``/bin/sh`` in that image, after the install phase's
runtime versions. Here, from the image's own Dockerfile and runtimes.yml (data/codebuild-standard-7.0.json,
which names the commit it was read from):

- :func:`check` reads each project's commands and finds, for each simple command, that its program is in
  the image (a runtime, a Debian package the image installs, or a program an earlier command installs)
  and that its flags are the program's own: ``python -m`` modules through their argparse parser, the
  pinned Node CLIs through their ``--help``, make targets through ``make -n``;
- :func:`run_step` runs the Synth (or Rehearse) step's commands as the buildspec spells them, in a fresh clone,
  with only the image's programs on PATH, as CodeBuild's root, privileged or not (``capsh --drop``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from stacks.cfn_text import render
from stacks.delivery.config import WORKLOAD_CHECKS
from stacks.project import ROOT

IMAGE_FACTS = Path(__file__).parent / "data" / "codebuild-standard-7.0.json"
# Words sh runs itself, and the operators between simple commands.
BUILTINS = {"[", "test", "echo", "exit", "cd", "export", "true", "false", ":", "set", "{", "}", "!"}
OPERATORS = {"&&", "||", ";", "|", "(", ")"}
# The settings by which this machine reaches PyPI and npm (CodeBuild reaches them over the internet).
REGISTRY_SETTINGS = (
    *("PIP_", "NPM_CONFIG_", "HTTP", "NO_PROXY"),
    *("SSL_CERT_", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE"),
)
# The build steps `python -m rehearsal.codebuild` runs, each found by a command only it has.
RUNNABLE = {"synth": "cdk synth", "rehearse": f"make {WORKLOAD_CHECKS}"}
# What CodeBuild's Docker gives a build without PrivilegedMode (docker run's default capability set).
UNPRIVILEGED_DROPS = "cap_sys_admin,cap_net_admin"


@dataclass(frozen=True)
class Project:
    logical_id: str
    image: str
    privileged: bool
    buildspec: dict

    def phase(self, name: str) -> dict:
        return (self.buildspec.get("phases") or {}).get(name) or {}

    def commands(self) -> list[str]:
        return [*self.phase("install").get("commands", []), *self.phase("build").get("commands", [])]


def projects(template: dict, assembly: Path) -> list[Project]:
    """Every CodeBuild project of a synthesized template; a buildspec CDK wrote to a file is read from ``assembly``.
    What CloudFormation fills in at deploy time reads as a ``<Ref>`` placeholder."""
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::CodeBuild::Project":
            continue
        properties = resource["Properties"]
        text = render(properties["Source"]["BuildSpec"])
        if not text.lstrip().startswith("{") and (assembly / text).is_file():
            text = (assembly / text).read_text()
        environment = properties["Environment"]
        found.append(
            Project(logical_id, environment["Image"], bool(environment.get("PrivilegedMode")), yaml.safe_load(text))
        )
    return found


# ---- what the image has ------------------------------------------------------------------------------------
@cache
def image_facts() -> dict:
    return json.loads(IMAGE_FACTS.read_text())


@cache
def _base_packages() -> frozenset[str]:
    """The packages of Ubuntu's minbase image under the Dockerfile's FROM (debootstrap's minbase: every Essential
    and Priority: required package), as this Debian machine lists them."""
    listing = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\t${Essential}\t${Priority}\n"], capture_output=True, text=True
    ).stdout
    rows = [line.split("\t") for line in listing.splitlines() if line.count("\t") == 2]
    return frozenset(name for name, essential, priority in rows if essential == "yes" or priority == "required")


def image_packages() -> frozenset[str]:
    return frozenset(image_facts()["apt_packages"]) | _base_packages()


def image_programs() -> dict[str, str]:
    """Program name -> why the image has it (runtimes and programs built from source)."""
    facts = image_facts()
    found = {p: f"the {runtime} runtime" for runtime, ps in facts["runtime_programs"].items() for p in ps}
    found.update({p: f"{tool}, built by the Dockerfile" for tool, ps in facts["built_from_source"].items() for p in ps})
    return found


@cache
def image_program_paths() -> dict[str, str]:
    """Program name -> its path here, for every program the image has that this machine has too.

    A program is the image's when the file it resolves to belongs to one of the image's packages, so programs
    reached through dpkg's alternatives (which, awk) count as well; then the runtimes and the programs the
    Dockerfile builds, python from this venv's base interpreter (a pyenv shim would need pyenv itself on PATH)."""
    # One dpkg call: a package this machine lacks is reported on stderr, and the others are listed.
    listing = subprocess.run(["dpkg", "-L", *sorted(image_packages())], capture_output=True, text=True).stdout
    packaged = {os.path.realpath(path) for path in listing.splitlines()}
    found: dict[str, str] = {}
    for directory in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        for entry in sorted(Path(directory).iterdir()) if Path(directory).is_dir() else []:
            if entry.name not in found and os.path.realpath(entry) in packaged and os.access(entry, os.X_OK):
                found[entry.name] = str(entry)
    interpreter = Path(sys.base_prefix) / "bin"
    for program in image_programs():
        path = interpreter / program if (interpreter / program).exists() else shutil.which(program)
        if path:
            found.setdefault(program, str(path))
    return found


def in_image(program: str) -> bool:
    return program in image_programs() or program in image_program_paths()


# ---- the check ---------------------------------------------------------------------------------------------
def simple_commands(command: str) -> Iterator[list[str]]:
    """The simple commands of a shell line, each as its words (assignments before the program dropped), and those
    of every command substitution a word holds (``"$(…)"``), which the shell runs too."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    words: list[str] = []
    for token in [*lexer, ";"]:
        for substituted in substitutions(token):
            yield from simple_commands(substituted)
        if token in OPERATORS or set(token) <= set(";&|()"):
            while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
                words.pop(0)
            while words and words[0] in ("{", "}", "!"):
                words.pop(0)
            if words:
                yield words
            words = []
        else:
            words.append(token)


def substitutions(word: str) -> Iterator[str]:
    """The text of each outermost ``$(…)`` in a word."""
    start = word.find("$(")
    while start != -1:
        depth, end = 0, start + 1
        for end in range(start + 1, len(word)):
            depth += {"(": 1, ")": -1}.get(word[end], 0)
            if depth == 0:
                break
        yield word[start + 2 : end]
        start = word.find("$(", end)


def check(project: Project, root: Path = ROOT) -> list[str]:
    """Problems of ``project``'s commands in its image: each names the command and what is wrong."""
    problems = []
    facts = image_facts()
    if project.image != facts["image"]:
        return [f"{project.logical_id}: image {project.image}: no facts recorded. Fix: record its Dockerfile."]
    for runtime, version in (project.phase("install").get("runtime-versions") or {}).items():
        if str(version) not in facts["runtimes"].get(runtime, []):
            problems.append(f"{project.logical_id}: runtime-versions {runtime}: {version} is not in the image")
    installed: set[str] = set()
    for line in project.commands():
        for words in simple_commands(line):
            problem = _check_words(words, installed, root)
            if problem:
                problems.append(f"{project.logical_id}: `{' '.join(words)}`: {problem}")
    return problems


def _check_words(words: list[str], installed: set[str], root: Path) -> str | None:
    program, args = words[0], words[1:]
    if program in BUILTINS:
        return None
    if program == "npm" and args[:2] == ["install", "-g"]:
        return _global_install(args[2:], installed, root)
    if program == "npx":
        program, args = args[0], args[1:]
    elif program not in installed and not in_image(program):
        return f"{program} is not in {image_facts()['image']} (its Dockerfile and runtimes)"
    if program in ("python", "python3") and args[:1] == ["-m"]:
        return _python_module(args[1], args[2:], root)
    if program == "make":
        # Not `make -n`: a target named like a folder of the checkout (tests/) is "up to date" without a rule.
        declared = set(re.findall(r"^([\w./-]+)\s*:(?!=)", (root / "Makefile").read_text(), re.MULTILINE))
        unknown = [arg for arg in args if not arg.startswith("-") and "=" not in arg and arg not in declared]
        return f"the Makefile has no target {', '.join(unknown)}" if unknown else None
    if (root / "node_modules" / ".bin" / program).exists():
        return _node_flags(program, args, root)
    return None


def _global_install(packages: list[str], installed: set[str], root: Path) -> str | None:
    """``npm install -g name@version``: the version must be the one node_modules holds, whose flags are checked."""
    for spec in packages:
        name, _, version = spec.rpartition("@") if spec.count("@") else (spec, "", "")
        manifest = json.loads((root / "node_modules" / name / "package.json").read_text())
        if version != manifest["version"]:
            return f"installs {name}@{version or 'latest'}, but package.json pins {manifest['version']}"
        bins = manifest.get("bin") or {}
        installed.update(bins if isinstance(bins, dict) else [name])
    return None


def _python_module(module: str, args: list[str], root: Path) -> str | None:
    if module == "pip":
        files = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg in ("-r", "--requirement")]
        missing = [f for f in files if not (root / f).is_file()]
        return f"no {', '.join(missing)} in the source" if missing else None
    try:
        parser = importlib.import_module(module).build_parser()
    except (ImportError, AttributeError) as error:
        return f"python -m {module}: {error}"
    try:
        parser.parse_args(args)
    except SystemExit:
        return f"python -m {module} refuses these arguments (its build_parser())"
    return None


def _node_flags(program: str, args: list[str], root: Path) -> str | None:
    """Every flag must appear in the pinned CLI's help for its subcommand."""
    commands = set(re.findall(rf"^\s+{re.escape(program)} (\w[\w-]*)", _help(program, None, root), re.MULTILINE))
    subcommand = next((arg for arg in args if arg in commands), None)
    help_text = _help(program, subcommand, root)
    unknown = [
        flag
        for flag in (arg.split("=")[0] for arg in args if arg.startswith("-"))
        if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text)
    ]
    return f"{program} {subcommand or ''} has no {', '.join(unknown)} (its --help)" if unknown else None


@cache
def _help(program: str, subcommand: str | None, root: Path) -> str:
    binary = str(root / "node_modules" / ".bin" / program)
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    command = [binary, *([subcommand] if subcommand else []), "--help"]
    return subprocess.run(command, capture_output=True, text=True, env=env).stdout


# ---- the Synth step, run as CodeBuild runs it ----------------------------------------------------------------
def program_shims(folder: Path) -> Path:
    """A folder of links to every program the image has that this machine has too: the build's whole PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    for program, path in image_program_paths().items():
        (folder / program).symlink_to(path)
    return folder


def run_step(step: Project, *, privileged: bool, work: Path, log: Path) -> tuple[int, list[tuple[str, float]]]:
    """Run ``step``'s commands in a fresh clone of this checkout's HEAD, as root with (privileged) or without
    CAP_SYS_ADMIN and CAP_NET_ADMIN; returns the exit status of the first failing command (0) and each command run
    with its seconds."""
    source, release = work / "src", work / "ResolveRelease_Output"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(source)], check=True)
    release.mkdir(parents=True)
    (release / "release.json").write_text(
        json.dumps({"model_package_arn": None, "model_package_group": "textclf-dev", "note": "rehearsed"}) + "\n"
    )
    # How this machine reaches the package registries stands in for the build's internet access.
    registry_access = {k: v for k, v in os.environ.items() if k.startswith(REGISTRY_SETTINGS)}
    env = {
        **registry_access,
        "PATH": str(program_shims(work / "bin")),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "CODEBUILD_BUILD_ID": "textclf-synth:rehearsed",
        "CODEBUILD_CI": "true",
        "CODEBUILD_SRC_DIR": str(source),
        "CODEBUILD_SRC_DIR_ResolveRelease_Output": str(release),
    }
    timings: list[tuple[str, float]] = []
    with log.open("w") as output:
        for command in step.commands():
            shell = ["/bin/sh", "-c", command]
            if not privileged:
                # capsh is this machine's (the build's PATH has only the image's programs, and capsh is not one).
                capsh = shutil.which("capsh") or "/usr/sbin/capsh"
                shell = [capsh, f"--drop={UNPRIVILEGED_DROPS}", "--", "-c", f"exec /bin/sh -c {shlex.quote(command)}"]
            output.write(f"$ {command}\n")
            output.flush()
            began = time.perf_counter()
            status = subprocess.run(shell, cwd=source, env=env, stdout=output, stderr=subprocess.STDOUT).returncode
            timings.append((command, time.perf_counter() - began))
            if status != 0:
                return status, timings
    return 0, timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.codebuild", description=__doc__)
    parser.add_argument(
        "action",
        choices=("check", *RUNNABLE),
        help="check every step's commands, or run one build step's as CodeBuild runs it (Synth, or Rehearse)",
    )
    parser.add_argument("--assembly", type=Path, required=True, help="a cdk.out of `cdk synth -c stage=delivery`")
    parser.add_argument("--unprivileged", action="store_true", help="run the step without CAP_SYS_ADMIN/CAP_NET_ADMIN")
    parser.add_argument("--log", type=Path, default=None, help="where the step's output goes (codebuild-STEP.log)")
    args = parser.parse_args(argv)
    found = projects(json.loads((args.assembly / "Delivery.template.json").read_text()), args.assembly)
    if args.action == "check":
        problems = [problem for project in found for problem in check(project)]
        print("\n".join(problems) or f"{len(found)} CodeBuild projects: every command's program and flags exist")
        return 1 if problems else 0
    (step,) = [p for p in found if any(RUNNABLE[args.action] in command for command in p.commands())]
    privileged = step.privileged and not args.unprivileged
    log = args.log or Path(f"codebuild-{args.action}.log")
    with tempfile.TemporaryDirectory(prefix=f"codebuild-{args.action}-") as work:
        status, timings = run_step(step, privileged=privileged, work=Path(work), log=log)
    mode = "privileged" if privileged else f"unprivileged (--drop={UNPRIVILEGED_DROPS})"
    seconds = sum(took for _, took in timings)
    print(f"{args.action.title()} in {step.image}, {mode}: exit {status} after {seconds:.0f} s; log: {log}")
    for command, took in timings:
        print(f"  {took:6.0f} s  {command[:100]}")
    return status


if __name__ == "__main__":
    sys.exit(main())
