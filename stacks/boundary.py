"""The permissions boundary every role of our templates carries: the one `cdk bootstrap --example-permissions-boundary`
creates in each account and region (aws-cdk's bootstrap template, ``CdkBoostrapPermissionsBoundaryPolicy``).

It allows everything except escalation: creating a role or user without this boundary, changing the boundary
policy, and removing it from any role. The CloudFormation execution policies (stacks/bootstrap_policy.py) let a
deployment create or change our roles only with this boundary, so no deployment can make an admin role. Plain
Python: the stages apply it with stacks.stage.permissions_boundary.
"""

from __future__ import annotations

# The bootstrap qualifier our stacks deploy with: aws-cdk's default (DefaultStackSynthesizer.DEFAULT_QUALIFIER).
QUALIFIER = "hnb659fds"


def boundary_name(account: str, region: str) -> str:
    return f"cdk-{QUALIFIER}-permissions-boundary-{account}-{region}"


def boundary_arn_pattern() -> str:
    """The boundary's ARN in any of our accounts and regions, as an ArnLike condition value."""
    return f"arn:*:iam::*:policy/{boundary_name('*', '*')}"
