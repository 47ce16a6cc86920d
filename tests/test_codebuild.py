"""The delivery pipeline's CodeBuild steps against their image: every program there, every flag the program's own.

The projects are the synthesized delivery stack's; each planted defect is one edit of a buildspec or of a
program a step runs, which the check must name.
"""

from __future__ import annotations

import json

import pytest
from test_delivery import synth_delivery

from delivery_steps import smoke
from rehearsal import codebuild


@pytest.fixture(scope="module")
def delivery_projects(cdk_context, tmp_path_factory) -> dict[str, codebuild.Project]:
    outdir = tmp_path_factory.mktemp("codebuild.out")
    synth_delivery(cdk_context, outdir)
    template = json.loads((outdir / "Delivery.template.json").read_text())
    return {p.logical_id: p for p in codebuild.projects(template, outdir)}


def named(projects: dict[str, codebuild.Project], part: str) -> codebuild.Project:
    (found,) = [p for name, p in projects.items() if part in name]
    return found


def with_command(project: codebuild.Project, old: str, new: str) -> codebuild.Project:
    spec = json.loads(json.dumps(project.buildspec).replace(old, new))
    return codebuild.Project(project.logical_id, project.image, project.privileged, spec)


def test_every_step_of_the_pipeline_runs_in_its_image_with_flags_its_programs_take(delivery_projects):
    kinds = {"ResolveRelease", "Synth", "Rehearse", "VerifyProdAssembly", "SmokeTest", "FileAsset"}
    assert {kind for kind in kinds for name in delivery_projects if kind in name} == kinds
    for project in delivery_projects.values():
        assert codebuild.check(project) == [], project.logical_id


def test_only_the_rehearse_action_runs_privileged_and_synth_does_not(delivery_projects):
    """Synth writes the cloud assembly the stages deploy; the one privileged build writes nothing they read."""
    privileged = [name for name, project in delivery_projects.items() if project.privileged]
    assert len(privileged) == 1 and "Rehearse" in privileged[0]
    assert not named(delivery_projects, "Synth").privileged


def test_a_flag_renamed_in_the_smoke_program_fails_the_check(delivery_projects, monkeypatch):
    """What passed every test before: smoke.py renames --latency-p95-ms, the buildspec keeps the old flag."""
    original = smoke.build_parser

    def renamed():
        parser = original()
        for action in parser._actions:
            if "--latency-p95-ms" in action.option_strings:
                action.option_strings = ["--p95-latency-ms"]
                parser._option_string_actions.pop("--latency-p95-ms")
                parser._option_string_actions["--p95-latency-ms"] = action
        return parser

    monkeypatch.setattr(smoke, "build_parser", renamed)
    (problem,) = codebuild.check(named(delivery_projects, "StagingSmokeTest"))
    assert "python -m delivery_steps.smoke refuses these arguments" in problem


@pytest.mark.parametrize(
    ("project", "old", "new", "expected"),
    [
        ("StagingSmokeTest", "--min-accuracy", "--minimum-accuracy", "delivery_steps.smoke refuses these arguments"),
        ("FileAsset", "cdk-assets@", "cdk-assets@9", "but package.json pins"),
        ("VerifyProdAssembly", "sha256sum", "sha265sum", "sha265sum is not in aws/codebuild/standard:7.0"),
        ("ResolveRelease", "release summary", "release summarise", "delivery_steps.release refuses these arguments"),
        ("FileAsset", "--path", "--manifest", "cdk-assets publish has no --manifest"),
        ("Synth", "make check", "make checks", "the Makefile has no target checks"),
        ("Rehearse", "make test-workloads", "make test-workload", "the Makefile has no target test-workload"),
        ("Synth", "make check", "capsh --print && make check", "capsh is not in aws/codebuild/standard:7.0"),
        ("ResolveRelease", "locks/release.lock", "locks/missing.lock", "no locks/missing.lock in the source"),
        ("ResolveRelease", '"python": "3.11"', '"python": "3.8"', "runtime-versions python: 3.8 is not in the image"),
    ],
)
def test_each_planted_defect_is_named(delivery_projects, project, old, new, expected):
    found = named(delivery_projects, project)
    planted = with_command(found, old, new)
    assert planted.buildspec != found.buildspec, "the defect was planted"
    problems = codebuild.check(planted)
    assert any(expected in problem for problem in problems), problems


def test_simple_commands_split_the_synth_steps_shell_line():
    line = '[ ! -d "release" ] || { echo \'must not exist yet\'; exit 1; } && ln -s -- "$CODEBUILD_SRC_DIR_X" "release"'
    programs = [words[0] for words in codebuild.simple_commands(line)]
    assert programs == ["[", "echo", "exit", "ln"]
    (words,) = codebuild.simple_commands("PATH=$PWD/.venv/bin:$PATH npx cdk synth --app 'a b' -c x=y")
    assert words == ["npx", "cdk", "synth", "--app", "a b", "-c", "x=y"]


def test_the_image_facts_name_their_source():
    facts = codebuild.image_facts()
    assert facts["source"]["repository"] == "aws/aws-codebuild-docker-images" and len(facts["source"]["commit"]) == 40
    assert "iproute2" in facts["apt_packages"] and "make" in facts["apt_packages"]
    assert "3.11" in facts["runtimes"]["python"] and "corretto17" in facts["runtimes"]["java"]
