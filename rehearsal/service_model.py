"""What a service refuses of a request by its API model alone: botocore's ParamValidator, then what it leaves out.

ParamValidator, the check boto3 makes before sending, covers types, required members and minimums. The service
also refuses values over a shape's maximum, outside its enum, or not matching its pattern; botocore's model
carries those facts (the same model boto3 sends requests with), and this module checks them.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, cast

from botocore.validate import ParamValidator

from stacks.instances import service_model


def input_shape(service: str, operation: str) -> Any:
    return service_model(service).operation_model(operation).input_shape


def type_errors(service: str, operation: str, request: dict) -> str | None:
    """ParamValidator's report (types, required members, minimums), or None when it passes."""
    report = ParamValidator().validate(request, input_shape(service, operation))
    return report.generate_report() if report.has_errors() else None


def model_refusal(service: str, operation: str, request: dict) -> str | None:
    """The first maximum, enum or pattern ``request`` breaks, as the refusal with its fix; None if none."""
    problems = beyond_param_validator(service, operation, request)
    if not problems:
        return None
    name = service_model(service).service_id  # "SageMaker", "Lambda", as botocore names the service
    return f"{problems[0]} (botocore's {name} model). Fix: use a value the model allows there."


def beyond_param_validator(service: str, operation: str, request: dict) -> list[str]:
    """Each maximum, enum and pattern of the model that ``request`` breaks, as "<path>: <what>"."""
    problems: list[str] = []
    _within(input_shape(service, operation), request, operation, problems)
    return problems


def _within(shape: Any, value, path: str, problems: list[str]) -> None:
    """The API references give each pattern anchored (^...$), so a value must match it whole."""
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, inner in value.items():
            if name in shape.members:
                _within(shape.members[name], inner, f"{path}.{name}", problems)
    elif shape.type_name == "list" and isinstance(value, list):
        _at_most(shape, len(value), path, "items", problems)
        for index, inner in enumerate(value):
            _within(shape.member, inner, f"{path}[{index}]", problems)
    elif shape.type_name == "map" and isinstance(value, dict):
        _at_most(shape, len(value), path, "entries", problems)
        for key, inner in value.items():
            _within(shape.key, key, f"{path} key {key!r:.40}", problems)
            _within(shape.value, inner, f"{path}.{key}", problems)
    elif shape.type_name == "string" and isinstance(value, str):
        _a_string_within(shape, value, path, problems)
    elif shape.type_name in ("integer", "long", "float", "double") and isinstance(value, int | float):
        maximum = _meta(shape).get("max")
        if maximum is not None and value > maximum:
            problems.append(f"{path}: {value} is over {shape.name}'s maximum {maximum}")


def _a_string_within(shape: Any, value: str, path: str, problems: list[str]) -> None:
    enum, pattern = _meta(shape).get("enum"), _meta(shape).get("pattern")
    _at_most(shape, len(value), path, "characters", problems)
    if enum and value not in enum:
        problems.append(f"{path}: {value!r:.40} is not one of {shape.name}'s {len(enum)} values")
    elif pattern and (compiled := _compiled(pattern)) is not None and not compiled.fullmatch(value):
        problems.append(f"{path}: {value!r:.40} does not match {shape.name}'s pattern {pattern}")


def _meta(shape: Any) -> dict:
    """A botocore Shape's metadata; its cached members are more than the type checker can follow."""
    return cast(dict, shape.metadata)


def _at_most(shape: Any, size: int, path: str, unit: str, problems: list[str]) -> None:
    maximum = _meta(shape).get("max")
    if maximum is not None and size > maximum:
        problems.append(f"{path}: {size} {unit}, over {shape.name}'s maximum {maximum}")


@cache
def _compiled(pattern: str) -> re.Pattern | None:
    """botocore's patterns are Java regular expressions; the few Python cannot read are not checked."""
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def documented(service: str, shape: str, member: str, containing: str) -> str:
    """The sentence of botocore's documentation of ``shape.member`` that contains ``containing``, as plain text."""
    text = re.sub(r"<[^>]+>", "", service_model(service).shape_for(shape).members[member].documentation)
    for sentence in re.split(r"(?<=\.)\s+", text):
        if containing in sentence:
            return sentence.strip()
    raise LookupError(f"botocore's {service} model no longer documents {containing!r} for {shape}.{member}")
