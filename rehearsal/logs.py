"""CloudWatch Logs' space-delimited filter patterns, as metric filters apply them to a log group's events.

moto matches quoted and single terms only, and would count every event for a pattern it cannot read. This module
reads what the CloudWatch Logs User Guide documents for space-delimited events ("Filter pattern syntax for metric
filters": "Using filter patterns to match terms in space-delimited log events", and "Publishing numerical values
found in log entries" / "dimensions"):
- the event splits on spaces; characters between double quotes, or between square brackets, are one field;
- the pattern names the fields in order, in square brackets and separated by commas; ``...`` stands for any number
  of fields, so ``[..., status, bytes]`` names the last two;
- a field may be compared: ``=`` and ``!=`` with a string (``*`` matches any characters) or a number, and ``<``,
  ``<=``, ``>``, ``>=`` with a number;
- a metric transformation's value and its dimensions may be ``$field``, a named field of the pattern; the value must
  then be a number in the event, or the event publishes nothing; a filter with dimensions has no default value.
Compound conditions (``&&``, ``||``) and regular expressions are refused here rather than matched loosely.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

_COMPARISON = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|<=|>=|=|<|>)\s*(.+?)\s*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EVENT_FIELD = re.compile(r'"[^"]*"|\[[^\]]*\]|\S+')
NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class UnsupportedPattern(ValueError):
    """A pattern this emulator does not read: the rehearsal fails instead of guessing."""


@dataclass(frozen=True)
class Field:
    name: str | None  # None: the ellipsis
    operator: str | None = None
    value: str | None = None

    def accepts(self, text: str) -> bool:
        if self.operator is None:
            return True
        assert self.value is not None
        number, wanted = _number(text), _number(self.value)
        if self.operator in NUMERIC:
            return number is not None and wanted is not None and NUMERIC[self.operator](number, wanted)
        if wanted is not None and number is not None:
            equal = number == wanted
        else:
            equal = fnmatch.fnmatchcase(text, self.value.strip('"'))
        return equal if self.operator == "=" else not equal


def is_delimited(pattern: str) -> bool:
    return pattern.strip().startswith("[")


def parse(pattern: str) -> list[Field]:
    body = pattern.strip()
    if not (body.startswith("[") and body.endswith("]")):
        raise UnsupportedPattern(f"{pattern!r}: not a space-delimited pattern ([field, ...])")
    fields = []
    for part in body[1:-1].split(","):
        part = part.strip()
        if "&&" in part or "||" in part or "%" in part:
            raise UnsupportedPattern(f"{pattern!r}: compound conditions and regular expressions are not emulated")
        if part == "...":
            fields.append(Field(None))
        elif _NAME.match(part):
            fields.append(Field(part))
        elif found := _COMPARISON.match(part):
            fields.append(Field(found[1], found[2], found[3]))
        else:
            raise UnsupportedPattern(f"{pattern!r}: cannot read the field {part!r}")
    return fields


def event_fields(message: str) -> list[str]:
    return [token[1:-1] if token[:1] in '"[' else token for token in _EVENT_FIELD.findall(message)]


def match(fields: list[Field], message: str) -> dict[str, str] | None:
    """The named fields' values where the event matches the pattern, else None."""
    values = event_fields(message)

    def walk(f: int, v: int, found: dict[str, str]) -> dict[str, str] | None:
        if f == len(fields):
            return found if v == len(values) else None
        field = fields[f]
        if field.name is None:
            return next(
                (r for end in range(len(values), v - 1, -1) if (r := walk(f + 1, end, found)) is not None), None
            )
        if v == len(values) or not field.accepts(values[v]):
            return None
        return walk(f + 1, v + 1, {**found, field.name: values[v]})

    return walk(0, 0, {})


@dataclass(frozen=True)
class Sample:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    value: float


def metric_samples(metric_filter: dict, lines: Iterable[str]) -> list[Sample]:
    """What a deployed metric filter (DescribeMetricFilters' shape) publishes for ``lines``."""
    fields = parse(metric_filter["filterPattern"])
    samples = []
    for transformation in metric_filter["metricTransformations"]:
        dimensions = transformation.get("dimensions") or {}
        if dimensions and transformation.get("defaultValue") is not None:
            raise UnsupportedPattern(f"{metric_filter['filterName']}: a filter with dimensions has no default value")
        for line in lines:
            found = match(fields, line)
            if found is None:
                continue
            value = _number(_field(found, transformation["metricValue"]))
            if value is None:
                continue
            samples.append(
                Sample(
                    transformation["metricNamespace"],
                    transformation["metricName"],
                    tuple(sorted((name, _field(found, ref)) for name, ref in dimensions.items())),
                    value,
                )
            )
    return samples


def _field(found: dict[str, str], reference: str) -> str:
    if not reference.startswith("$"):
        return reference
    name = reference[1:]
    if name not in found:
        raise UnsupportedPattern(f"{reference}: names no field of the pattern ({', '.join(found)})")
    return found[name]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
