"""The rehearsal's space-delimited filter patterns, held to the CloudWatch Logs User Guide's own examples."""

from __future__ import annotations

import pytest

from rehearsal import logs
from training import contract

# The User Guide's space-delimited event (an Apache access log line).
EVENT = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534'


@pytest.mark.parametrize(
    ("pattern", "matched"),
    [
        ('[ip, user, username, timestamp, request = "*html*", status_code = 4*, bytes]', True),
        ("[ip, user, username, timestamp, request, status_code = 404, bytes > 1000]", True),
        ("[ip, user, username, timestamp, request, status_code = 404, bytes < 1000]", False),
        ("[..., status_code = 404, size]", True),
        ("[..., status_code != 404, size]", False),
        ("[ip, ..., size]", True),
        ("[ip, user, size]", False),  # seven fields, not three
        ('[ip, user = "-", ...]', True),
    ],
)
def test_patterns_match_the_user_guides_event_as_documented(pattern, matched):
    found = logs.match(logs.parse(pattern), EVENT)
    assert (found is not None) == matched
    if found is not None and "timestamp" in found:
        assert found["timestamp"] == "10/Oct/2000:13:25:15 -0700"  # a bracketed field is one field
        assert found["request"] == "GET /index.html HTTP/1.0"  # and so is a quoted one


def test_the_signal_pattern_skips_the_model_servers_prefix_and_publishes_each_metric_with_its_dimension():
    line = (
        "2026-12-06T08:44:04,174 [INFO ] W-model-2-stdout com.amazonaws.ml.mms.wlm.WorkerLifeCycle - "
        + contract.signal_line(1, 0.98765, 40, False)
    )
    pattern = contract.signal_filter_pattern()

    def metric_filter(value: str, dimensions: dict | None = None) -> dict:
        transformation = {"metricNamespace": "N", "metricName": "M", "metricValue": value}
        return {
            "filterName": "f",
            "filterPattern": pattern,
            "metricTransformations": [{**transformation, **({"dimensions": dimensions} if dimensions else {})}],
        }

    noise = ["2026-12-06T08:44:04,174 [INFO ] W-model-2-stdout com.amazonaws.ml.mms.wlm.WorkerLifeCycle - Retry worker"]
    (by_class,) = logs.metric_samples(metric_filter("1", {"Class": "$predicted"}), [line, *noise])
    assert by_class == logs.Sample("N", "M", (("Class", "1"),), 1.0)
    (score,) = logs.metric_samples(metric_filter("$score"), [line])
    assert score.value == pytest.approx(0.9877) and score.dimensions == ()
    (length,) = logs.metric_samples(metric_filter("1", {"Bucket": "$length"}), [line])
    assert length.dimensions == (("Bucket", str(contract.length_bucket(40, False))),)


@pytest.mark.parametrize(
    "pattern", ["ERROR", "[a, b && c]", "[a = %x%]", "[a, b c]"], ids=["not delimited", "compound", "regex", "garbled"]
)
def test_a_pattern_the_emulator_does_not_read_is_refused_not_guessed(pattern):
    with pytest.raises(logs.UnsupportedPattern):
        logs.parse(pattern)


def test_a_default_value_beside_dimensions_is_refused_as_cloudwatch_logs_refuses_it():
    metric_filter = {
        "filterName": "f",
        "filterPattern": "[..., x]",
        "metricTransformations": [
            {
                "metricNamespace": "N",
                "metricName": "M",
                "metricValue": "1",
                "defaultValue": 0,
                "dimensions": {"X": "$x"},
            }
        ],
    }
    with pytest.raises(logs.UnsupportedPattern, match="default value"):
        logs.metric_samples(metric_filter, ["a b"])
