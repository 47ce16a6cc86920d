"""ARNs in this stack's account and region, and how cdk-nag prints them in finding ids."""

from __future__ import annotations

from aws_cdk import Aws


def arn(service: str, resource: str) -> str:
    # Pseudo parameters render the same in cdk-nag whether or not the stage pins an env.
    return f"arn:{Aws.PARTITION}:{service}:{Aws.REGION}:{Aws.ACCOUNT_ID}:{resource}"


def nag_arn(service: str, resource: str) -> str:
    """How cdk-nag prints :func:`arn` in a finding id."""
    return f"arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:{resource}"
