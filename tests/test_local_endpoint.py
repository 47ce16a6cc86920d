"""The local endpoint: real multi-model-server and toolkit handler service, spoken to over real HTTP."""

from __future__ import annotations

import json

import pytest

from benchmarks.load import run_load
from rehearsal.jobs import pack_model_dir
from rehearsal.local_endpoint import EndpointError, LocalEndpoint, free_port, invoke, ping


@pytest.fixture(scope="module")
def endpoint(served_model_dir):
    with LocalEndpoint(served_model_dir, port=free_port(), workers=2) as endpoint:
        yield endpoint


def test_ping_and_invocations_follow_the_container_contract(endpoint):
    assert ping(endpoint.url) == 200
    status, body = invoke(endpoint.url, '{"inputs": ["a great movie", "awful"]}')
    assert status == 200
    assert [answer["label"] in ("negative", "positive") for answer in json.loads(body)] == [True, True]


def test_bad_requests_come_back_4xx_over_http(endpoint):
    for body, content_type, accept in [
        ('{"inputs": ', "application/json", "application/json"),
        ('{"inputs": "x"}', "text/plain", "application/json"),
        ('{"inputs": "x"}', "application/json", "image/png"),
        ('{"inputs": 7}', "application/json", "application/json"),
    ]:
        status, text = invoke(endpoint.url, body, content_type=content_type, accept=accept)
        assert 400 <= status < 500, text
        assert "Fix:" in json.loads(text)["message"]


def test_sixteen_concurrent_clients_get_every_answer(endpoint):
    texts = ["a great movie", "dull and far too long", "fine", "the worst film of the year"] * 40
    bodies = [json.dumps({"inputs": text}).encode() for text in texts]
    result = run_load(endpoint.url, bodies, clients=16, deadline_s=120)
    assert result.errors == [] and result.unsent == 0
    assert result.statuses == {200: len(bodies)}


def test_a_model_tar_gz_is_served_as_sagemaker_unpacks_it(served_model_dir, tmp_path):
    archive = pack_model_dir(served_model_dir, tmp_path / "model.tar.gz")
    with LocalEndpoint(archive, port=free_port(), workers=1) as endpoint:
        status, body = invoke(endpoint.url, '{"inputs": "great"}', accept="text/csv")
    assert status == 200 and body.decode().split(",")[0] in ("negative", "positive")


def test_a_path_that_is_no_model_fails_with_a_clear_error(tmp_path):
    missing = tmp_path / "nothing.tar.gz"
    missing.write_text("not an archive")
    with pytest.raises(EndpointError, match="neither a model directory nor a model.tar.gz"):
        LocalEndpoint(missing, port=free_port()).start()


def test_textclf_invoke_prints_the_answer_and_fails_on_a_client_error(endpoint, capsys):
    from cli.main import main

    assert main(["invoke", "--url", endpoint.url, "--top-k", "2", "a great movie"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("HTTP 200 in ") and len(json.loads(out.splitlines()[1])) == 2
    assert main(["invoke", "--url", endpoint.url, " "]) == 1
    assert "inputs: empty text" in capsys.readouterr().out
