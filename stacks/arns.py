"""ARNs, by default in this stack's account and region, and how cdk-nag prints them in finding ids."""

from __future__ import annotations

from aws_cdk import Aws

# How cdk-nag prints the pseudo parameters that :func:`arn` uses.
NAG_REGION, NAG_ACCOUNT = "<AWS::Region>", "<AWS::AccountId>"


def arn(service: str, resource: str, *, region: str = Aws.REGION, account: str = Aws.ACCOUNT_ID) -> str:
    """``region`` and ``account`` default to pseudo parameters, which render the same in cdk-nag whether
    or not the stage pins an env; pass them for a resource elsewhere, '' for global services (IAM, S3)."""
    return f"arn:{Aws.PARTITION}:{service}:{region}:{account}:{resource}"


def nag_arn(service: str, resource: str, *, region: str = NAG_REGION, account: str = NAG_ACCOUNT) -> str:
    """How cdk-nag prints :func:`arn` (with the same region and account) in a finding id."""
    return f"arn:<AWS::Partition>:{service}:{region}:{account}:{resource}"
