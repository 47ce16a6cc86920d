"""`textclf bootstrap-policy`: the project's permissions boundary and the scoped CloudFormation execution policies to
bootstrap each account with.

Synthesizes every stage and the delivery pipeline with the pinned CDK CLI, computes one execution policy for the
stage accounts and one for the tooling account (stacks/bootstrap_policy.py) and the boundary every role and the
execution role carry (stacks/boundary.py), writes them as JSON and prints the commands that install them;
docs/security.md (finding 11, and the third review's finding 1) explains the rest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli.pipeline_ops import stage_config
from rehearsal import synth
from rehearsal.report import while_silent
from stacks.bootstrap_policy import MAX_POLICY_CHARACTERS, execution_policy, policy_characters
from stacks.boundary import boundary_name, boundary_policy
from stacks.config import MODEL_DATA_PREFIX, ConfigError, artifact_bucket_name, load_stages
from stacks.delivery.config import DELIVERY_STACK_ID
from stacks.images import images_for
from stacks.project import ROOT, cdk_synth

POLICY_NAME = "{prefix}-{account}-cloudformation-execution"
BOUNDARY = "boundary"


def policies(outdir: Path) -> dict[str, dict]:
    """{"stage": policy, "tooling": policy, "boundary": policy}, from a fresh synth of the delivery pipeline and the
    stages it releases. A stand-in release makes the stages synthesize with everything serving adds (a stage deployed
    by hand, serving a package in place, creates a subset of those types)."""
    stages = load_stages(json.loads((ROOT / "cdk.json").read_text())["context"]["stages"], "all")
    prefixes = {config.name_prefix for config in stages}
    if len(prefixes) != 1:
        raise ConfigError(f"stages.*.name_prefix: stages differ ({sorted(prefixes)}). Fix: give them one prefix.")
    (prefix,) = prefixes
    outdir.mkdir(parents=True, exist_ok=True)
    release = outdir / "stand-in-release.json"
    release.write_text(json.dumps(_stand_in_release(stages[0])))
    cdk_synth("delivery", outdir / "assembly", context={"release": str(release)})
    stacks = synth.stacks(outdir / "assembly")
    tooling = [s for s in stacks if not s.template_path.parent.name.startswith("assembly-")]
    staged = [s for s in stacks if s.template_path.parent.name.startswith("assembly-")]
    found = {
        account: execution_policy(
            [s.template for s in artifacts], stack_names=[s.name for s in artifacts], name_prefix=prefix
        )
        for account, artifacts in (("stage", staged), ("tooling", tooling))
    }
    found[BOUNDARY] = boundary_policy(prefix, [s.name for s in stacks], DELIVERY_STACK_ID)
    for account, policy in found.items():
        if policy_characters(policy) > MAX_POLICY_CHARACTERS:
            raise ConfigError(
                f"{account} policy: {policy_characters(policy)} characters, over IAM's {MAX_POLICY_CHARACTERS}. "
                "Fix: split it (cdk bootstrap takes several --cloudformation-execution-policies)."
            )
    return found


def _stand_in_release(config) -> dict:
    """A release of the shape ResolveRelease writes; no value of it reaches the policies."""
    return {
        "model_package_arn": (
            f"arn:aws:sagemaker:{config.region}:000000000000:model-package/{config.model_package_group_name}/1"
        ),
        "model_data_url": (
            f"s3://{artifact_bucket_name(config.name_prefix, config.name, '000000000000', config.region)}/"
            f"{MODEL_DATA_PREFIX}stand-in/output/model.tar.gz"
        ),
        "model_data_sha256": "0" * 64,
        "image": images_for(config.region).inference,
        "environment": {},
    }


def run(args: argparse.Namespace) -> int:
    outdir = (ROOT / args.outdir).resolve()
    with while_silent("cdk synth of the delivery pipeline and its stages, to read what they create"):
        found = policies(outdir)
    prefix = stage_config("dev").name_prefix
    files = {}
    for account, policy in found.items():
        files[account] = outdir / (
            f"{account}-execution-policy.json" if account != BOUNDARY else "permissions-boundary.json"
        )
        files[account].write_text(json.dumps(policy, indent=2) + "\n")
        print(f"{account}: {files[account]} ({policy_characters(policy)} of {MAX_POLICY_CHARACTERS} characters)")
    boundary = boundary_name(prefix)
    print("\nEvery role of the templates, and CloudFormation's execution role, carry the project's boundary.")
    print("In each account, once: the boundary, then each execution policy the account needs (a stage account: stage;")
    print("the tooling account: tooling; one account for everything: both, comma-separated), then the bootstrap:")
    print(f"  aws iam create-policy --policy-name {boundary} --policy-document file://{files[BOUNDARY]}")
    name = POLICY_NAME.format(prefix=prefix, account="<stage|tooling>")
    print(f"  aws iam create-policy --policy-name {name} --policy-document file://<that policy file>")
    print(
        f"  npx cdk bootstrap aws://<ACCOUNT>/<REGION> --custom-permissions-boundary {boundary} "
        f"--cloudformation-execution-policies arn:aws:iam::<ACCOUNT>:policy/{name} "
        "[--trust <TOOLING_ACCOUNT> --trust-for-lookup <TOOLING_ACCOUNT>]"
    )
    print("A later version of the boundary: aws iam create-policy-version --policy-arn <its ARN> --set-as-default.")
    return 0


def add_parser(commands) -> None:
    command = commands.add_parser(
        "bootstrap-policy",
        help="write the scoped CloudFormation execution policies for `cdk bootstrap` (instead of AdministratorAccess)",
        description=(__doc__ or "").partition("\n")[0],
    )
    command.add_argument("--outdir", default="out/bootstrap", help="where the policies go (default: out/bootstrap)")
    command.set_defaults(handler=run)
