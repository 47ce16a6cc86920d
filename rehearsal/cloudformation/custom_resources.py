"""Lambda-backed custom resources and functions, run as CloudFormation and SageMaker Pipelines run them.

CloudFormation invokes the function named by ``ServiceToken`` with a Create/Update/Delete event and
waits for the function to PUT its answer to the event's ``ResponseURL``. A pipeline's Lambda step
invokes its function synchronously and reads the returned object. Here the function's code asset
(the zip `cdk deploy` published) is unpacked and its handler runs in a process of its own, with the
function role's credentials and the gateway as its AWS endpoint, so what it does is authorized by
the synthesized policies; a custom resource's answer is caught on a loopback URL.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, cast

from rehearsal.cloud import Cloud
from rehearsal.cloudformation.engine import Deployment
from rehearsal.cloudformation.model import DeployError, Resource, Stack

# Runs the handler on the event from stdin and writes what it returns to the file argv[2]: a pipeline's
# Lambda step reads that answer; a custom resource answers CloudFormation's ResponseURL instead.
INVOKE = (
    "import importlib, json, sys; module, function = sys.argv[1].rsplit('.', 1); "
    "answer = getattr(importlib.import_module(module), function)(json.load(sys.stdin), None); "
    "open(sys.argv[2], 'w').write(json.dumps(answer))"
)


class FunctionError(RuntimeError):
    """The function raised (Lambda's FunctionError: Unhandled); the message ends with its traceback."""


def custom_resource(workdir: Path):
    """A creator for ``Custom::*`` resources that runs their function's handler."""

    def create(deployment: Deployment, logical_id: str, properties: dict) -> Resource:
        stack = deployment.stack
        target = next(
            (
                r
                for r in stack.resources.values()
                if r.type == "AWS::Lambda::Function" and r.attributes["Arn"] == properties["ServiceToken"]
            ),
            None,
        )
        if target is None:
            raise DeployError(
                f"{logical_id}: its ServiceToken {properties['ServiceToken']} is no function of this stack"
            )
        code = unpack_code(deployment.cloud, deployment.stack, target, workdir / logical_id)
        event = {
            "RequestType": "Create",
            "ResponseURL": "",
            "StackId": deployment.ref("AWS::StackId"),
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": logical_id,
            "ResourceType": stack.template["Resources"][logical_id]["Type"],
            "ResourceProperties": properties,
        }
        answer = invoke(deployment, target, code, event)
        if answer.get("Status") != "SUCCESS":
            raise DeployError(
                f"{stack.name}/{logical_id} ({event['ResourceType']}): CREATE_FAILED: "
                f"{answer.get('Reason', 'no reason given')}"
            )
        return Resource(
            logical_id, event["ResourceType"], answer["PhysicalResourceId"], answer.get("Data", {}), properties
        )

    return create


def call(cloud: Cloud, stack: Stack, function_arn: str, event: dict, workdir: Path) -> dict:
    """Invoke one of ``stack``'s functions synchronously, as a pipeline's Lambda step does; its returned object."""
    target = next((r for r in stack.of_type("AWS::Lambda::Function") if r.attributes["Arn"] == function_arn), None)
    if target is None:
        raise FunctionError(f"{function_arn}: no function of {stack.name} has this ARN")
    code = unpack_code(cloud, stack, target, workdir / target.logical_id)
    result = _run_handler(cloud, stack.region, target, code, event, timeout=target.properties.get("Timeout", 3))
    if result.returncode != 0:
        raise FunctionError(f"{function_arn}: Unhandled: {result.stderr[-1500:]}")
    return json.loads(_answer_file(code).read_text())


def _run_handler(
    cloud: Cloud, region: str, function_resource: Resource, code: Path, event: dict, *, timeout: float
) -> subprocess.CompletedProcess:
    """The function's handler on ``event`` in a process of its own, as the function role; its output goes to
    ``<code>.log`` and what it returns to ``_answer_file(code)``."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "PYTHONUNBUFFERED": "1",
        # The Lambda runtime puts the function's task root on PYTHONPATH.
        "PYTHONPATH": str(code),
        **cloud.env_for(function_resource.properties["Role"], region),
        **function_resource.properties.get("Environment", {}).get("Variables", {}),
    }
    result = subprocess.run(
        [sys.executable, "-c", INVOKE, function_resource.properties["Handler"], str(_answer_file(code))],
        cwd=code,
        input=json.dumps(event),
        text=True,
        capture_output=True,
        env=env,
        timeout=timeout,
    )
    (code.parent / f"{code.name}.log").write_text(result.stdout + result.stderr)
    return result


def _answer_file(code: Path) -> Path:
    return code.parent / f"{code.name}.answer.json"


def invoke(deployment: Deployment, function_resource: Resource, code: Path, event: dict) -> dict:
    catcher = _AnswerCatcher()
    event = {**event, "ResponseURL": catcher.url}
    try:
        result = _run_handler(deployment.cloud, deployment.region, function_resource, code, event, timeout=600)
        if catcher.answer is None:
            raise DeployError(
                f"{event['LogicalResourceId']}: the function answered nothing (exit {result.returncode}):"
                f" {result.stderr[-1500:]}"
            )
        return catcher.answer
    finally:
        catcher.stop()


def unpack_code(cloud: Cloud, stack: Stack, function_resource: Resource, target: Path) -> Path:
    location = function_resource.properties["Code"]
    s3 = cloud.admin("s3", stack.account, stack.region)
    archive = s3.get_object(Bucket=location["S3Bucket"], Key=location["S3Key"])["Body"].read()
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        bundle.extractall(target)
    return target


class _AnswerCatcher(HTTPServer):
    """Loopback stand-in for the pre-signed S3 URL CloudFormation hands a custom resource."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _CatchAnswer)
        self.answer: dict | None = None
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/cloudformation-response"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _CatchAnswer(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_PUT(self) -> None:
        cast(_AnswerCatcher, self.server).answer = json.loads(
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
