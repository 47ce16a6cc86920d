"""The local endpoint: real multi-model-server and toolkit handler service, spoken to over real HTTP."""

from __future__ import annotations

import csv
import json
import random
import time

import evaluate
import long_text
import pytest
from conftest import SAMPLE_DATA
from test_classifier import recorded_as
from test_serving import signal_filter_pattern

from benchmarks.load import run_load
from rehearsal import logs
from rehearsal.sagemaker.channels import pack_model_dir
from rehearsal.sagemaker.local_endpoint import (
    WORKER_MODULE,
    EndpointInputError,
    LocalEndpoint,
    free_port,
    group_members,
    invoke,
    live_processes,
    ping,
)
from training import contract

# Trains, runs jobs or serves a model: the delivery pipeline's Rehearse action runs this module, Synth does not.
pytestmark = pytest.mark.workload


@pytest.fixture(scope="module")
def endpoint(served_model_dir):
    with LocalEndpoint(served_model_dir, port=free_port(), workers=2) as endpoint:
        yield endpoint


def test_ping_and_invocations_follow_the_container_contract(endpoint):
    assert ping(endpoint.url) == 200
    status, body = invoke(endpoint.url, '{"inputs": ["a great movie", "awful"]}')
    assert status == 200
    assert [answer["label"] in ("negative", "positive") for answer in json.loads(body)] == [True, True]


def test_each_answered_text_logs_one_signal_line_the_stacks_metric_filters_read_and_never_its_text(endpoint):
    """The model server's own log, as SageMaker ships it to CloudWatch Logs, read by the synthesized filter pattern."""
    texts = ["a gripping, GENUINE thriller with zebras", "tedious " * 300]
    before = settled_log_length(endpoint)
    status, body = invoke(endpoint.url, json.dumps({"inputs": texts}))
    assert status == 200
    answers = json.loads(body)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        new = endpoint.log_lines()[before:]
        signals = [line for line in new if contract.SIGNAL_MARKER in line]
        if len(signals) == len(texts):
            break
        time.sleep(0.1)
    assert "-stdout com.amazonaws.ml.mms.wlm.WorkerLifeCycle - " in signals[0], "the model server's log4j prefix"
    fields = logs.parse(signal_filter_pattern())
    found = [logs.match(fields, line) for line in signals]
    labels = ["negative", "positive"]
    assert [labels[int(f["predicted"])] for f in found] == [a["label"] for a in answers]
    assert [float(f["score"]) for f in found] == pytest.approx([a["score"] for a in answers], abs=1e-4)
    # The first text fits the window; the second is cut by it.
    assert [int(f["length"]) for f in found] == [contract.length_bucket(12, False), contract.TRUNCATED_BUCKET]
    log = "\n".join(new).lower()
    assert not any(word in log for word in ("zebras", "gripping", "tedious"))


def settled_log_length(endpoint, quiet_s: float = 1.0, limit_s: float = 20.0) -> int:
    """The log's length once earlier requests' lines have all landed: the model server relays each worker's stdout on
    a thread of its own, so under load a line can land after its answer did (CI saw one of the previous test's
    signal lines arrive after this test counted the log)."""
    length, quiet_since, deadline = len(endpoint.log_lines()), time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() - quiet_since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.1)
        now = len(endpoint.log_lines())
        if now != length:
            length, quiet_since = now, time.monotonic()
    return length


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


def test_invoke_prints_the_endpoints_refusal_as_one_line_naming_the_fix(endpoint, tmp_path, capsys):
    """Issue 47: 100 texts came back as the right message in multi-line JSON, exit 1. A refusal is the request's
    fault: one line, exit 2; the handler's own message names the field and the fix."""
    from cli.main import main

    texts = tmp_path / "texts.txt"
    texts.write_text("a fine film\n" * 100)
    assert main(["invoke", "--file", str(texts), "--url", endpoint.url]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("textclf invoke: the endpoint refused the request (HTTP 4") and "Fix:" in err, err
    assert main(["invoke", "a fine film", "--url", endpoint.url]) == 0
    assert capsys.readouterr().out.startswith("HTTP 200 in ")


def test_sixteen_concurrent_clients_get_every_answer(endpoint):
    texts = ["a great movie", "dull and far too long", "fine", "the worst film of the year"] * 40
    bodies = [json.dumps({"inputs": text}).encode() for text in texts]
    result = run_load(endpoint.url, bodies, clients=16, deadline_s=120)
    assert result.errors == [] and result.unsent == 0
    assert result.statuses == {200: len(bodies)}


def test_no_request_in_a_fuzz_set_kills_a_worker(endpoint):
    """Long and odd values, sent among good traffic: answers are 200 or a 4xx with our message, and no worker
    dies (the frontend misreads long worker replies, so every answer's error message stays short)."""
    from test_payloads import HOSTILE

    near_the_limit = ["a long review " * 1500] * 64  # 64 texts of 21 KB, each cut to the model's window
    fuzz = [*HOSTILE, json.dumps({"inputs": near_the_limit, "parameters": {"top_k": None}})]
    fuzz += ['{"inputs": "x", "parameters": {"top_k": ' + str(10**40) + "}}", b"\xff\xfe" * 5000]
    good = [json.dumps({"inputs": "a fine film"})] * 64
    # Before messages were bounded, about 7% of the long-error requests had their connection reset.
    bodies = [body if isinstance(body, bytes) else body.encode() for body in [*fuzz * 20, *good]]
    random.Random(0).shuffle(bodies)
    workers = endpoint.worker_pids()
    result = run_load(endpoint.url, bodies, clients=16, deadline_s=300)
    assert result.errors == [] and result.unsent == 0
    assert set(result.statuses) <= {200, 400, 413}, result.statuses
    log = endpoint.log_path.read_text(errors="replace")
    assert "Worker died" not in log and contract.WORKER_RESTART_LOG not in log
    assert endpoint.worker_pids() == workers, "a worker died and was replaced"


def test_an_answer_over_the_frontends_buffer_is_a_400_not_a_dead_worker(served_model_dir):
    """The frontend drops a worker whose answer exceeds its max_response_size; the handler refuses such an
    answer first. The buffer is made small here so that a 64-text answer crosses it."""
    from payloads import MAX_RESPONSE_ENV

    every_label = json.dumps({"inputs": ["a fine film"] * 64, "parameters": {"top_k": None}})
    with LocalEndpoint(served_model_dir, port=free_port(), workers=1, env={MAX_RESPONSE_ENV: "4096"}) as endpoint:
        workers = endpoint.worker_pids()
        status, body = invoke(endpoint.url, every_label)
        assert status == 400 and json.loads(body)["message"].startswith("answer: ")
        assert invoke(endpoint.url, json.dumps({"inputs": ["a fine film"] * 8}))[0] == 200
        assert endpoint.worker_pids() == workers
        assert contract.WORKER_RESTART_LOG not in endpoint.log_path.read_text(errors="replace")


def test_a_model_tar_gz_is_served_as_sagemaker_unpacks_it(served_model_dir, tmp_path):
    archive = pack_model_dir(served_model_dir, tmp_path / "model.tar.gz")
    with LocalEndpoint(archive, port=free_port(), workers=1) as endpoint:
        status, body = invoke(endpoint.url, '{"inputs": "great"}', accept="text/csv")
    assert status == 200 and body.decode().split(",")[0] in ("negative", "positive")


def test_a_path_that_is_no_model_fails_at_once_with_a_clear_error(tmp_path):
    """Before the server starts: it would otherwise wait out its 180 s start-up and print its log (issue 31)."""
    missing = tmp_path / "nothing.tar.gz"
    missing.write_text("not an archive")
    with pytest.raises(EndpointInputError, match="neither a model directory nor a model.tar.gz"):
        LocalEndpoint(missing, port=free_port()).start()
    (tmp_path / "empty").mkdir()
    with pytest.raises(EndpointInputError, match=r"has no config\.json or code/inference\.py.* Fix: "):
        LocalEndpoint(tmp_path / "empty", port=free_port()).start()


def test_textclf_invoke_prints_the_answer_and_fails_on_a_client_error(endpoint, capsys):
    from cli.main import main

    assert main(["invoke", "--url", endpoint.url, "--top-k", "2", "a great movie"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("HTTP 200 in ") and len(json.loads(out.splitlines()[1])) == 2
    # A blank text is the user's to fix before anything is sent (issue 47): one line, exit 2.
    assert main(["invoke", "--url", endpoint.url, " "]) == 2
    assert "text 1 is blank" in capsys.readouterr().err


def port_is_free(port: int, *, within: float = 10.0) -> bool:
    """Nothing accepts on ``port`` within ``within`` seconds. Once in six CI runs the port still accepted right
    after every process of the group was gone (cause not found); a leaked server would still fail this."""
    import socket
    import time

    deadline = time.monotonic() + within
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


KINDS = {
    "launcher": lambda command: "multi-model-server" in command and "java" not in command.split()[0],
    "frontend": lambda command: command.split()[0].endswith("java"),
    "worker": lambda command: WORKER_MODULE in command,
}


@pytest.mark.parametrize("kind", ["launcher", "frontend"])
def test_stop_ends_every_process_and_frees_the_port_whichever_process_died_first(served_model_dir, kind):
    import os
    import signal

    endpoint = LocalEndpoint(served_model_dir, port=free_port(), workers=1)
    endpoint.start()
    try:
        group = endpoint.pid
        processes = group_members(group)
        assert {name for name, matches in KINDS.items() if any(map(matches, processes.values()))} == set(KINDS)
        # The JVM runs with the stage's heap cap, as the DLC passes SAGEMAKER_MODEL_SERVER_VMARGS.
        assert any("-Xmx128m" in command for command in processes.values() if KINDS["frontend"](command))
        victim = next(pid for pid, command in processes.items() if KINDS[kind](command))
        os.kill(victim, signal.SIGKILL)
    finally:
        endpoint.cleanup()
    assert group_members(group) == {}
    assert port_is_free(endpoint.port)


def test_with_every_worker_dead_ping_still_says_200_and_the_stacks_log_filter_catches_it(served_model_dir):
    """The limit docs/serving.md names, and the alarm that covers it: the frontend alone answers /ping, with
    200 while no worker is alive; what it logs meanwhile is matched by the synthesized metric filter
    (evaluated by moto's implementation of CloudWatch Logs filter patterns)."""
    import time

    from moto.logs.utils import EventMessageFilter
    from test_serving import worker_restart_pattern

    matches = EventMessageFilter(worker_restart_pattern()).matches
    endpoint = LocalEndpoint(served_model_dir, port=free_port(), workers=1)
    endpoint.start()
    group = endpoint.pid
    workers = endpoint.worker_pids()
    assert len(workers) == 2, "one worker and the listener that forked it"
    try:
        healthy = endpoint.log_path.read_text(errors="replace").splitlines()
        assert healthy and not any(map(matches, healthy))
        assert endpoint.kill_workers() == workers  # the listener too: nothing can answer again
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(map(matches, endpoint.log_path.read_text().splitlines())):
            time.sleep(0.5)
        assert any(map(matches, endpoint.log_path.read_text(errors="replace").splitlines()))
        assert ping(endpoint.url) == 200
        with pytest.raises(TimeoutError):
            invoke(endpoint.url, '{"inputs": "anyone there?"}', timeout=3)
    finally:
        endpoint.cleanup()
    assert group_members(group) == {}
    assert port_is_free(endpoint.port)


def test_start_returns_only_after_an_invocation_was_answered(served_model_dir):
    # The management API reports READY before the model has loaded; start() waits for a real answer.
    with LocalEndpoint(served_model_dir, port=free_port(), workers=1) as endpoint:
        log = endpoint.log_path.read_text(errors="replace")
    assert '"POST /invocations HTTP/1.1" 200' in log


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_textclf_serve_ends_the_model_server_when_it_is_terminated(served_model_dir, signal_name):
    """A service manager's SIGTERM, a closed terminal's SIGHUP (issue 47: it left java and the workers serving the
    port), Ctrl-C's SIGINT: each ends the whole model server with `textclf serve`."""
    import os
    import signal
    import subprocess
    import sys

    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", str(served_model_dir), "--port", str(port), "--workers", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert serve.stdout is not None
    assert "Serving" in serve.stdout.readline()  # printed after a real answer, so the server is up
    # The model server runs in its own session, led by a child of `textclf serve`.
    (group,) = [process.pid for process in live_processes() if process.parent == serve.pid]
    assert any(KINDS["frontend"](command) for command in group_members(group).values())
    os.kill(serve.pid, getattr(signal, signal_name))
    assert serve.wait(timeout=60) == 0
    assert group_members(group) == {}
    assert port_is_free(port)


def test_ctrl_c_while_textclf_serve_starts_ends_the_model_server_at_once_in_one_line(served_model_dir, tmp_path):
    """Issue 47: Ctrl-C while the model loaded took 23 s and printed nothing. A worker loading its model outlives
    SIGTERM (multi-model-server's handler only removes its socket), and stop() waited 20 s for it: here the model
    takes two minutes to load, so the old wait would be spent in full."""
    import shutil
    import signal
    import subprocess
    import sys

    model = tmp_path / "model"
    shutil.copytree(served_model_dir, model)
    loading = tmp_path / "loading"
    with (model / contract.ENDPOINT_CODE_DIR / contract.SERVING_PROGRAM).open("a") as program:
        program.write(f"\nimport pathlib, time\npathlib.Path({str(loading)!r}).touch()\ntime.sleep(120)\n")
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", str(model), "--port", str(port), "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not loading.exists() and serve.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert loading.exists(), "the worker never began to load the model"
    (group,) = [process.pid for process in live_processes() if process.parent == serve.pid]
    assert any(WORKER_MODULE in command for command in group_members(group).values())
    interrupted = time.monotonic()
    serve.send_signal(signal.SIGINT)
    out, err = serve.communicate(timeout=60)
    assert time.monotonic() - interrupted < 5
    assert (serve.returncode, out, err) == (130, "", "textclf serve: interrupted\n")
    assert group_members(group) == {}
    assert port_is_free(port)


@pytest.mark.parametrize("strategy", long_text.STRATEGIES)
def test_evaluation_and_the_endpoint_answer_long_texts_alike_for_every_strategy(served_model_dir, tmp_path, strategy):
    """evaluate.py's figures are the endpoint's: the same windows, the same mean, the same temperature (issue 36).
    Texts from one token to past MAX_CHUNKS windows of this model's 128."""
    model = recorded_as(served_model_dir, tmp_path / "model", textclf_long_text=strategy, textclf_temperature=1.7)
    sentences = [row.split(",")[0] for row in (SAMPLE_DATA / "validation" / "validation.csv").read_text().split("\n")]
    texts = ["fine", " ".join(sentences[1:8]), " ".join(sentences[1:40]), " ".join(sentences[1:200])]
    data = tmp_path / "test"
    data.mkdir()
    with (data / "test.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerows([("text", "label"), *[(text, "positive") for text in texts]])
    arguments = ["--model_path", str(model), "--test_dir", str(data), "--output_dir", str(tmp_path / "e")]
    assert evaluate.main(arguments) == 0
    lines = (tmp_path / "e" / contract.PREDICTIONS_FILE).read_text().splitlines()
    evaluated = [json.loads(line) for line in lines]
    with LocalEndpoint(model, port=free_port(), workers=1) as endpoint:
        status, body = invoke(endpoint.url, json.dumps({"inputs": texts}))
    assert status == 200
    answers = json.loads(body)
    assert [a["label"] for a in answers] == [e["predicted"] for e in evaluated]
    assert [a["score"] for a in answers] == pytest.approx([e["score"] for e in evaluated], abs=1e-4)
    assert [e["score"] != pytest.approx(e[contract.UNCALIBRATED_SCORE]) for e in evaluated] == [True] * len(texts)
