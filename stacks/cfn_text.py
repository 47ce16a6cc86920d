"""A synthesized CloudFormation value as text, with what CloudFormation fills in at deploy time as placeholders.

No aws-cdk import: the rehearsal reads synthesized templates with it too (rehearsal.codebuild).
"""

from __future__ import annotations


def render(value) -> str:
    """``{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}]]}`` -> ``arn:<AWS::Partition>``, as cdk-nag prints
    a resolved value in a finding id."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part) for part in parts)
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    return str(value)
