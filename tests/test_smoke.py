"""The pipeline's smoke test, run here against the real local endpoint: same script, other URL."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime

import botocore.session
import pytest
from conftest import ROOT

from delivery_steps import smoke
from rehearsal.sagemaker.local_endpoint import LocalEndpoint, free_port

# Trains, runs jobs or serves a model: the delivery pipeline's Rehearse action runs this module, Synth does not.
pytestmark = pytest.mark.workload

POSITIVE = "positive"


@pytest.fixture(scope="module")
def positive_model_dir(tiny_model_dir, tmp_path_factory):
    """A model that answers "positive" to everything, so which cases pass is known in advance."""
    import torch
    from exporting import export_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([-20.0, 20.0]))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return export_model(model, tokenizer, ["negative", POSITIVE], tmp_path_factory.mktemp("smoke") / "model", {})


@pytest.fixture(scope="module")
def endpoint(positive_model_dir):
    with LocalEndpoint(positive_model_dir, port=free_port(), workers=1) as endpoint:
        yield endpoint


def write_cases(path, labels: list[str]):
    path.write_text(
        "".join(json.dumps({"text": f"review number {i}", "label": label}) + "\n" for i, label in enumerate(labels))
    )
    return path


def run(endpoint, cases, *extra: str) -> int:
    return smoke.main(["--url", f"{endpoint.url}/invocations", "--cases", str(cases), "--repeats", "2", *extra])


def test_a_model_that_gets_every_case_right_passes(endpoint, tmp_path, capsys):
    assert run(endpoint, write_cases(tmp_path / "cases.jsonl", [POSITIVE] * 3)) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "3 cases x 2" in out


def test_a_wrong_label_fails_the_release_and_names_the_case(endpoint, tmp_path, capsys):
    assert run(endpoint, write_cases(tmp_path / "cases.jsonl", [POSITIVE, "negative"])) == 1
    err = capsys.readouterr().err
    assert "case 'review number 1': expected negative, got positive" in err
    assert "accuracy on the smoke cases 50% is below the required 100%" in err


def test_min_accuracy_tolerates_the_allowed_share_of_misses(endpoint, tmp_path, capsys):
    cases = write_cases(tmp_path / "cases.jsonl", [POSITIVE] * 3 + ["negative"])
    assert run(endpoint, cases, "--min-accuracy", "0.75") == 0
    assert "tolerated (--min-accuracy 0.75): case 'review number 3'" in capsys.readouterr().out
    assert run(endpoint, cases, "--min-accuracy", "0.8") == 1


def test_a_slow_endpoint_fails_on_its_p95_latency(endpoint, tmp_path, capsys):
    assert run(endpoint, write_cases(tmp_path / "cases.jsonl", [POSITIVE]), "--latency-p95-ms", "0.001") == 1
    assert "exceeds the budget of 0 ms" in capsys.readouterr().err


def test_the_bundled_cases_run_against_the_endpoint_and_the_empty_text_gets_a_4xx(endpoint):
    cases = smoke.read_cases(ROOT / "data" / "smoke_cases.jsonl")
    assert {case.label for case in cases} == {"negative", POSITIVE}
    outcome = smoke.run_cases(smoke.http_sender(f"{endpoint.url}/invocations"), cases, repeats=1)
    # Every negative case is wrong for this model, and the bad-request probe came back as a client error.
    assert set(outcome.wrong) == {case.text for case in cases if case.label == "negative"}
    assert outcome.failures == []


def test_without_a_served_model_the_smoke_test_is_skipped(capsys):
    assert smoke.main(["--url", "none"]) == 0
    assert "smoke test skipped" in capsys.readouterr().out


def test_a_broken_cases_file_is_reported_with_its_line_and_fix(tmp_path, capsys):
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"text": "fine", "label": "positive"}\n{"text": "no label"}\n')
    assert smoke.main(["--url", "http://127.0.0.1:1/invocations", "--cases", str(cases)]) == 2
    err = capsys.readouterr().err
    assert f"{cases}:2" in err and "Fix:" in err


def test_sagemaker_urls_are_signed_as_the_assumed_smoke_test_role(monkeypatch):
    from moto import mock_aws

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    url = "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/e-1/invocations"
    assert smoke.SAGEMAKER_RUNTIME.match(url).group("region") == "eu-west-1"
    with mock_aws():
        sign = smoke.sigv4_signer(
            smoke.role_session("eu-west-1", "arn:aws:iam::123456789012:role/textclf-prod/smoke-test/r")
        )
        request = urllib.request.Request(
            url, data=b'{"inputs": ["x"]}', method="POST", headers={"Content-Type": "application/json"}
        )
        sign(request)
    headers = {name.lower(): value for name, value in request.header_items()}
    assert "/eu-west-1/sagemaker/aws4_request" in headers["authorization"]
    assert headers["x-amz-security-token"], "signed with the assumed role's session, not the caller's keys"
    assert not smoke.SAGEMAKER_RUNTIME.match("http://127.0.0.1:8080/invocations")


def described(served: str, status: str = "InService", reason: str | None = None) -> dict:
    """DescribeEndpoint's answer after a canary update of textclf-staging, validated against botocore's shape."""
    answer = {
        "EndpointName": "textclf-staging",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:111122223333:endpoint/textclf-staging",
        "EndpointConfigName": served,
        "EndpointStatus": status,
        "CreationTime": datetime(2026, 12, 1, tzinfo=UTC),
        "LastModifiedTime": datetime(2026, 12, 6, 12, 0, tzinfo=UTC),
        "LastDeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 300},
                "MaximumExecutionTimeoutInSeconds": 2400,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}, {"AlarmName": "probe"}]},
        },
        **({"FailureReason": reason} if reason else {}),
    }
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("DescribeEndpoint")
    assert set(answer) <= set(shape.output_shape.members)
    return answer


def history(fired: set[str]):
    asked = []

    def items(alarm: str, since: datetime) -> list[dict]:
        asked.append((alarm, since))
        return [{"AlarmName": alarm, "HistorySummary": "Alarm updated from OK to ALARM"}] if alarm in fired else []

    items.asked = asked
    return items


def test_an_endpoint_serving_the_released_config_passes():
    assert smoke.served_config_problems(described("textclf-staging-new"), "textclf-staging-new", history(set())) == []


def test_a_rolled_back_update_fails_the_stage_naming_both_configs_and_the_alarm_that_fired():
    alarms = history({"probe"})
    (problem,) = smoke.served_config_problems(described("textclf-staging-old"), "textclf-staging-new", alarms)
    assert "serves endpoint config textclf-staging-old, not textclf-staging-new" in problem
    assert "rollback alarm(s) that fired: probe" in problem and "errors" not in problem.split("fired:")[1]
    # Alarms are read from when the update could have begun: the deployment's timeout before it ended.
    assert {since for _, since in alarms.asked} == {datetime(2026, 12, 6, 11, 20, tzinfo=UTC)}


def test_an_endpoint_left_failed_is_reported_with_its_reason():
    (problem,) = smoke.served_config_problems(
        described("textclf-staging-new", "Failed", "image not found"), "textclf-staging-new", history(set())
    )
    assert "is Failed, not InService: image not found" in problem
