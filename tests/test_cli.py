"""The `textclf` command: its synth summary runs the real CDK CLI offline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from stacks.project import ROOT


def _textclf(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def _synth_without_credentials(stage: str, outdir: Path, **aws) -> subprocess.CompletedProcess:
    """``aws``: AWS_* variables the caller's shell has (none by default)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.update(aws)
    result = _textclf("synth", "--stage", stage, "--outdir", str(outdir), env=env)
    assert result.returncode == 0, result.stderr
    return result


def test_delivery_pipeline_synthesizes_offline_through_the_real_cdk_cli(tmp_path):
    result = _synth_without_credentials("delivery", tmp_path)
    header = next(line for line in result.stdout.splitlines() if line.startswith("| resource type"))
    assert header == "| resource type | Delivery | Delivery-Dev | Delivery-Staging | Delivery-Prod |"
    assert "| AWS::CodePipeline::Pipeline | 1 | 0 | 0 | 0 |" in result.stdout
    assert "cdk-nag AwsSolutions: 0 unsuppressed findings" in result.stdout
    assert "cfn-lint: Delivery 0 errors" in result.stdout
    assert "the approval starts a release that serves it" in result.stdout


def test_synth_of_one_stage_without_credentials_summarizes_only_that_stage(tmp_path):
    """The summary `textclf synth` prints; several stages' columns are shown by the delivery synth above. Issue 47:
    a shell whose AWS_PROFILE names no profile (and whose config file is gone) synthesizes all the same: the config
    checks read botocore's service models with its loader, not through a session that reads the profile."""
    (tmp_path / "assembly-Prod").mkdir()  # left over from an earlier synth of all stages
    stale = {"AWS_PROFILE": "nosuch", "AWS_CONFIG_FILE": str(tmp_path / "no-config")}
    result = _synth_without_credentials("dev", tmp_path, **stale)
    assert "| resource type | Dev |" in result.stdout and "Prod" not in result.stdout
    assert "| AWS::S3::Bucket | 4 |" in result.stdout
    assert "cdk-nag AwsSolutions: 0 unsuppressed findings" in result.stdout
    assert "cfn-lint: Dev 0 errors" in result.stdout
    assert re.search(r"^checkov: 0 failed, \d+ passed, \d+ allowed with reasons$", result.stdout, re.M)
    assert "Dev: Serving skipped for stage dev: no approved model package yet." in result.stdout


def test_a_setting_synth_refuses_is_its_one_line_naming_the_fix(tmp_path):
    """Issue 47: a bad setting ended in cdk's whole output and exit 1; it is the user's to fix."""
    env = {**os.environ, "CDK_DEFAULT_ACCOUNT": "12345"}
    result = _textclf("synth", "--stage", "dev", "--outdir", str(tmp_path), env=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(
        "textclf synth: stages.dev.account: not a 12-digit AWS account id (got '12345'). Fix: "
    ), result.stderr


def test_an_unknown_stage_is_refused_before_synth_with_the_likely_one(tmp_path):
    """Issue 47: `--stage prdo` ran cdk synth, exited 1 and quoted `cdk synth -c stage=dev` syntax."""
    result = _textclf("synth", "--stage", "prdo", "--outdir", str(tmp_path))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "unknown stage 'prdo' (did you mean 'prod'?)" in result.stderr and "Fix:" in result.stderr
    assert not tmp_path.joinpath("manifest.json").exists()


def test_version_names_the_installed_release():
    from importlib import metadata

    result = _textclf("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"textclf {metadata.version('textclf-mlops')}"


@pytest.mark.parametrize(
    "command",
    [
        ["synth"],
        ["serve"],
        ["invoke"],
        ["local-run"],
        ["cost"],
        ["pipeline"],
        ["bootstrap-policy"],
        ["data"],
        ["base-model"],
        ["data", "validate"],
        ["data", "upload"],
    ],
    ids=" ".join,
)
def test_every_subcommand_has_help(command, capsys):
    """In process: the parser `textclf` itself runs, without a Python start per subcommand."""
    assert main([*command, "--help"]) == 0
    printed = capsys.readouterr().out
    assert "usage: textclf" in printed
    if command[0] == "data" and len(command) == 2:
        assert "--train FILE" in printed
