"""What the rehearsal's EventBridge hands a target: a constant input, or an input transformer's template filled from
the event, as the EventBridge User Guide's "Transforming target input" describes."""

from __future__ import annotations

import pytest
from test_monitor import monitor

from rehearsal.eventbridge import SAMPLES, target_input

SCHEDULED = {**SAMPLES["Scheduled Event"]["event"], "time": "2026-12-06T10:00:00Z"}


def test_the_monitors_schedule_hands_its_function_the_time_it_fired_beside_the_constant_input():
    (rule,) = monitor().find_resources("AWS::Events::Rule").values()
    (target,) = rule["Properties"]["Targets"]
    handed = target_input(target, SCHEDULED)
    assert handed["Time"] == "2026-12-06T10:00:00Z"
    assert handed["Baseline"]["class_mix"] == [0.5, 0.5] and handed["WindowMinutes"] == 60


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{"at": <time>, "n": <count>}', {"at": "2026-12-06T10:00:00Z", "n": 3}),  # JSON values outside strings
        ('{"note": "fired at <time>, <count> times"}', {"note": "fired at 2026-12-06T10:00:00Z, 3 times"}),
    ],
)
def test_placeholders_become_json_values_outside_strings_and_text_inside_them(template, expected):
    target = {
        "InputTransformer": {"InputPathsMap": {"time": "$.time", "count": "$.detail.count"}, "InputTemplate": template}
    }
    assert target_input(target, {**SCHEDULED, "detail": {"count": 3}}) == expected


def test_a_constant_input_is_handed_as_is_and_no_input_hands_the_event():
    assert target_input({"Input": '{"a": 1}'}, SCHEDULED) == {"a": 1}
    assert target_input({}, SCHEDULED) == SCHEDULED
