"""The CLI's one error path (cli/errors.py): every bad input ends in one line, `textclf <command>: <what>. Fix: <how>`,
exit 2 for the user's input and 1 for a failure elsewhere, and no traceback. Each row below is a case a new user met
(issue 31); keep the table growing."""

from __future__ import annotations

import csv
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cli import main as cli_main
from cli import pipeline_ops
from rehearsal.sagemaker.local_endpoint import free_port
from training import data_files

MISSING = "/nonexistent/textclf"
NOTHING_LISTENS = "http://127.0.0.1:1"


@pytest.fixture
def offline(monkeypatch):
    """No AWS credentials anywhere: what a new user's first AWS-calling command meets."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", MISSING)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", MISSING)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


CASES = [
    # (argv, exit status, what the line must say)
    (["status", "--stage", "all"], 2, "--stage takes one stage"),
    (["status", "--stage", "dev,prod"], 2, "--stage takes one stage"),
    (["cost", "--stage", "delivery"], 2, "--stage takes one stage"),
    (["pipeline", "packages", "--stage", "all"], 2, "--stage takes one stage"),
    (["data", "upload", "--stage", "dev,prod", "--train", "x.csv"], 2, "--stage takes one stage"),
    (["batch", "--stage", "all", "--input", "a", "--output", "b"], 2, "--stage takes one stage"),
    (["base-model", "upload", "x", "--stage", "all"], 2, "--stage takes one stage"),
    (["cost", "--hours", "-1"], 2, "not a finite, non-negative number"),
    (["cost", "--hours", "nan"], 2, "not a finite, non-negative number"),
    (["cost", "--request-ms", "inf"], 2, "not a finite, non-negative number"),
    (["cost", "--evaluation-hours", "lots"], 2, "is not a number"),
    (["status", "--packages", "0"], 2, "not a positive whole number"),
    (["batch", "--input", "a", "--output", "b", "--instance-count", "0"], 2, "not a positive whole number"),
    (["serve", "model", "--port", "99999"], 2, "not within 1..32766"),
    (["serve", "model", "--port", "0"], 2, "not within 1..32766"),
    (["serve", "model", "--workers", "0"], 2, "not a positive whole number"),
    (["serve", MISSING], 2, "neither a model directory nor a model.tar.gz"),
    (["invoke", "a text", "--url", NOTHING_LISTENS], 1, "cannot connect"),
    (["invoke", "a text", "--url", f"{NOTHING_LISTENS}/invocations"], 1, "cannot connect"),
    (["invoke", "a text", "--url", "localhost:8080"], 2, "is not an http(s) URL"),
    # Issue 47: /ping answers 200 to anything, as if it had classified; a typo of /invocations answered a raw 404.
    (["invoke", "a text", "--url", f"{NOTHING_LISTENS}/ping"], 2, "names the path '/ping', not the endpoint"),
    (["invoke", "a text", "--url", f"{NOTHING_LISTENS}/invocation"], 2, f"Fix: give its base, {NOTHING_LISTENS}"),
    (["invoke"], 2, "no text to classify"),
    # Issue 47: a blank text went to the endpoint and came back as a 7-line 400 typed InternalServerException.
    (["invoke", "", "--url", NOTHING_LISTENS], 2, "text 1 is blank"),
    (["invoke", "a text", "   ", "--url", NOTHING_LISTENS], 2, "text 2 is blank"),
    (["invoke", "--file", MISSING], 2, "No such file or directory"),
    (["invoke", "a text", "--top-k", "0"], 2, "not a positive whole number"),
    (["data", "validate", "--train", MISSING], 2, "is not a file"),
    (["charts", MISSING], 2, "no evaluation.json or predictions.jsonl"),
    (["base-model", "upload", "../../nope", "--stage", "dev"], 2, "is no directory, and no Hugging Face Hub id"),
    (["base-model", "upload", "someone/no-such-model", "--stage", "dev"], 1, "cannot download someone/no-such-model"),
    (["base-model", "upload", "x", "--stage", "dev", "--name", "../../etc"], 2, "is not a folder name"),
    (["bootstrap-policy", "--outdir", "/proc/textclf"], 2, "/proc/textclf"),
    (["pipeline", "nosuch"], 2, "invalid choice"),
    # Issue 47: a parameter's typo met the missing credentials first; names are checked offline, per pipeline.
    (["pipeline", "start", "--stage", "dev", "--param", "Epoch=2"], 2, "no such parameter (did you mean 'Epochs'?)"),
    (["pipeline", "start", "--param", "Temperature=3"], 2, "the training pipeline has no such parameter"),
    (["pipeline", "start", "--pipeline", "distillation", "--param", "Temprature=3"], 2, "did you mean 'Temperature'"),
    (["nosuch"], 2, "invalid choice"),
    # Without credentials: the first AWS call says so, and how to sign in.
    (["status", "--stage", "dev"], 1, "Unable to locate credentials. Fix: sign in"),
    (["pipeline", "packages", "--stage", "dev"], 1, "Unable to locate credentials. Fix: sign in"),
    (["pipeline", "approve", "7", "--stage", "dev"], 1, "Unable to locate credentials. Fix: sign in"),
]


def run(argv: list[str], capsys) -> tuple[int, str]:
    status = cli_main.main(argv)
    return status, capsys.readouterr().err


@pytest.mark.parametrize("argv, status, said", CASES, ids=[" ".join(argv) for argv, _, _ in CASES])
def test_every_bad_input_ends_in_one_line_with_its_fix(offline, capsys, argv, status, said):
    code, err = run(argv, capsys)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    (line,) = lines
    assert line.startswith(f"textclf {argv[0]}") or line.startswith("textclf:"), line
    assert "Fix:" in line and said in line, line
    assert code == status, line


def test_a_busy_port_is_refused_before_the_model_server_starts(offline, capsys, tmp_path):
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        code, err = run(["serve", str(tmp_path), "--port", str(port)], capsys)
    assert code == 2 and err.strip() == f"textclf serve: port {port} is in use. Fix: pass --port with a free port."


def test_a_broken_cdk_json_is_one_line_naming_where(offline, capsys, tmp_path, monkeypatch):
    (tmp_path / "cdk.json").write_text('{"context": {"stages": {')
    monkeypatch.setattr(pipeline_ops, "ROOT", tmp_path)
    for argv in (["status", "--stage", "dev"], ["cost", "--stage", "dev"]):
        code, err = run(argv, capsys)
        assert code == 2 and "cdk.json: not valid JSON" in err and "line 1 column" in err and "Traceback" not in err


def test_an_unexpected_fault_is_one_line_and_its_traceback_comes_with_debug(offline, capsys, monkeypatch):
    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("cli.cost.stage_config", broken)
    code, err = run(["cost"], capsys)
    assert code == 1 and err.strip() == (
        "textclf cost: unexpected ZeroDivisionError: a bug. Fix: run it again with --debug for the traceback, "
        "and report it."
    )
    code, err = run(["--debug", "cost"], capsys)
    assert code == 1 and "Traceback" in err and "ZeroDivisionError: a bug" in err


def test_local_run_replaces_only_a_previous_runs_folder(offline, capsys, tmp_path):
    """Issue 47: `local-run --output DIR` deleted a folder of other files without a word. It now refuses one, and
    empties only a new, empty or previous run's folder (which each run marks)."""
    from cli import local_run

    kept = tmp_path / "thesis"
    kept.mkdir()
    (kept / "chapter1.tex").write_text("mine")
    code, err = run(["local-run", "--output", str(kept)], capsys)
    assert code == 2 and "holds files that no local run wrote (chapter1.tex" in err
    assert (kept / "chapter1.tex").read_text() == "mine"
    previous = tmp_path / "run"
    local_run.replace_previous_run(previous)
    (previous / "report.md").write_text("an earlier run")
    local_run.replace_previous_run(previous)
    assert sorted(p.name for p in previous.iterdir()) == [local_run.RUN_MARKER]


def test_texts_come_from_a_file_or_stdin_too(offline, capsys, tmp_path, monkeypatch):
    """Checked as far as the request: nothing listens, so the answer is the connection failure, not a missing text."""
    texts = tmp_path / "texts.txt"
    texts.write_text("a fine film\n\nawful\n")
    code, err = run(["invoke", "--file", str(texts), "--url", NOTHING_LISTENS], capsys)
    assert code == 1 and "cannot connect" in err
    monkeypatch.setattr("sys.stdin", open(texts))  # noqa: SIM115 - closed with the test's tmp_path
    code, err = run(["invoke", "--file", "-", "--url", NOTHING_LISTENS], capsys)
    assert code == 1 and "cannot connect" in err


def test_the_text_limit_is_pythons_csv_field_limit():
    assert data_files.MAX_TEXT_CHARACTERS == csv.field_size_limit()


def test_a_text_file_that_is_not_utf8_is_named_with_how_to_convert_it(offline, capsys, tmp_path):
    texts = tmp_path / "latin1.txt"
    texts.write_bytes("un film génial\n".encode("latin-1"))
    code, err = run(["invoke", "--file", str(texts), "--url", NOTHING_LISTENS], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"--file {texts}: not UTF-8 (byte 0xe9" in err and "Fix: save it as UTF-8" in err


def test_charts_given_the_file_or_a_broken_one_names_it(offline, capsys, tmp_path):
    """Issue 47: `charts evaluation.json` and a broken evaluation.json ended in messages naming neither."""
    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text('{"multiclass_classification_metrics": ')
    (tmp_path / "predictions.jsonl").write_text("")
    code, err = run(["charts", str(evaluation)], capsys)
    assert code == 2 and f"{evaluation}: is the file, not its folder. Fix: pass the folder that holds it" in err
    code, err = run(["charts", str(tmp_path)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{evaluation}: not valid JSON" in err and "Fix: download the step's output folder again" in err


def test_a_truncated_model_archive_is_one_line_naming_it(offline, capsys, tmp_path, served_model_dir):
    """Issue 47: `serve truncated.tar.gz` ended in "unexpected EOFError ... report it"."""
    from rehearsal.sagemaker.channels import pack_model_dir

    whole = pack_model_dir(served_model_dir, tmp_path / "model.tar.gz", compresslevel=1).read_bytes()
    cut = tmp_path / "truncated.tar.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    code, err = run(["serve", str(cut)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"model: {cut} is not a complete tar.gz" in err and "Fix: copy it again" in err


@pytest.mark.parametrize(
    "status, message, code, said",
    [
        (413, "inputs: 100 texts, more than the 64 allowed in one request. Fix: split the batch.", 2, "refused"),
        # The toolkit answers 400 for every exception, the handler's own faults too: no fix named, not the user's.
        (400, "boom", 1, "the endpoint failed (HTTP 400): boom. Fix: check the model server's log"),
        (500, "worker died", 1, "the endpoint failed (HTTP 500)"),
    ],
)
def test_an_endpoints_error_is_the_users_only_if_it_names_a_fix(offline, capsys, status, message, code, said):
    class Answer(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"code": status, "type": "InternalServerException", "message": message}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Answer) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        result, err = run(["invoke", "a text", "--url", f"http://127.0.0.1:{server.server_port}"], capsys)
        server.shutdown()
    assert result == code and len(err.strip().splitlines()) == 1 and said in err, err
