"""An IAM-enforcing gateway in front of moto: every signed request is authorized before it is served.

Each role of the rehearsal gets its own credentials; the gateway reads the access key from the
SigV4 ``Authorization`` header, maps the request to the IAM actions AWS authorizes it with (an
SSE-KMS object read is ``s3:GetObject`` *and* ``kms:Decrypt`` through S3), and asks
:class:`rehearsal.iam.Directory`. Denied requests get the service's own AccessDenied error, so the
caller (boto3 in a job, the release script, the rehearsal itself) fails as it would on AWS.
Loopback only.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from rehearsal.iam import AccessDenied, Directory, Request, account_of
from rehearsal.sagemaker.tagging import request_tags, tag_on_create

_CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/")


def s3_requests(
    principal: str, method: str, path: str, query: dict, headers, directory: Directory, region: str
) -> list[Request]:
    """The authorizations of one S3 REST request (path-style addressing)."""
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    record = directory.buckets.get(bucket)
    owner = record.account if record else None
    bucket_arn = f"arn:aws:s3:::{bucket}"

    def on_bucket(action: str, **context) -> Request:
        return Request(
            principal, action, bucket_arn, owner, tuple({"s3:ResourceAccount": owner or "", **context}.items())
        )

    def on_object(action: str, object_key: str = key, target: str = bucket) -> list[Request]:
        target_record = directory.buckets.get(target)
        target_owner = target_record.account if target_record else None
        found = [
            Request(
                principal,
                action,
                f"arn:aws:s3:::{target}/{object_key}",
                target_owner,
                (("s3:ResourceAccount", target_owner or ""),),
            )
        ]
        key_action = {"s3:GetObject": "kms:Decrypt", "s3:PutObject": "kms:GenerateDataKey"}.get(action)
        if key_action and target_record and target_record.key_arn:
            found.append(
                Request(
                    principal,
                    key_action,
                    target_record.key_arn,
                    account_of(target_record.key_arn),
                    (
                        ("kms:ViaService", f"s3.{target_record.region}.amazonaws.com"),
                        ("kms:CallerAccount", account_of(principal)),
                    ),
                )
            )
        return found

    if not key:
        if method == "GET" and "location" in query:
            return [on_bucket("s3:GetBucketLocation")]
        if method in ("GET", "HEAD"):
            prefix = query.get("prefix", [None])[0]
            return [on_bucket("s3:ListBucket", **({"s3:prefix": prefix} if prefix is not None else {}))]
        return [on_bucket(f"s3:{'CreateBucket' if method == 'PUT' else 'DeleteBucket'}")]
    if method == "HEAD":
        return on_object("s3:GetObject")[:1]
    if method == "GET":
        return on_object("s3:GetObject")
    if method == "DELETE":
        return [on_object("s3:AbortMultipartUpload" if "uploadId" in query else "s3:DeleteObject")[0]]
    requests = on_object("s3:PutObject") if "uploadId" not in query else on_object("s3:PutObject")[:1]
    source = headers.get("x-amz-copy-source")
    if source:
        source_bucket, _, source_key = unquote(source).lstrip("/").partition("/")
        requests += on_object("s3:GetObject", source_key.split("?")[0], source_bucket)
    return requests


def sagemaker_requests(
    principal: str, operation: str, body: dict, region: str, account: str, next_version
) -> list[Request]:
    def arn(resource: str) -> str:
        return f"arn:aws:sagemaker:{region}:{account}:{resource}"

    def group_arn(name_or_arn: str) -> str:
        return name_or_arn if name_or_arn.startswith("arn:") else arn(f"model-package-group/{name_or_arn}")

    action = f"sagemaker:{operation}"
    if operation == "CreateModelPackage":
        group = body["ModelPackageGroupName"]
        name = group.rsplit("/", 1)[-1]
        resource = arn(
            f"model-package/{name}/{next_version(name, account_of(group) if group.startswith('arn:') else account)}"
        )
        owner = account_of(resource)
        created = Request(principal, action, resource, owner, tuple(request_tags(body).items()))
        return [created, *tag_on_create(principal, operation, resource, body, owner)]
    elif operation in ("DescribeModelPackage", "UpdateModelPackage"):
        name = body.get("ModelPackageName") or body.get("ModelPackageArn") or ""
        resource = name if name.startswith("arn:") else arn(f"model-package/{name}")
        if operation == "UpdateModelPackage":
            return [Request(principal, action, resource, account_of(resource), package_update_context(body))]
    elif operation == "DescribeModelPackageGroup":
        resource = group_arn(body["ModelPackageGroupName"])
    elif operation == "ListModelPackages" and body.get("ModelPackageGroupName"):
        # Listing a group's versions is authorized on them (as the registry's sharing policies name them), so
        # another account's group is a cross-account request its group policy must allow.
        group = group_arn(body["ModelPackageGroupName"])
        resource = group.replace(":model-package-group/", ":model-package/") + "/*"
    elif operation in ("ListModelPackages", "ListModelPackageGroups"):
        resource = "*"
    else:
        raise AccessDenied(
            principal,
            action,
            "?",
            "the rehearsal's gateway does not model this operation; add it to rehearsal/gateway.py",
        )
    owner = account_of(resource) if resource != "*" else None
    return [Request(principal, action, resource, owner)]


def package_update_context(body: dict) -> tuple:
    """The condition keys SageMaker gives an UpdateModelPackage (the Service Authorization Reference): the metadata it
    removes and sets, and the approval status it sets."""
    context = [
        (f"sagemaker:CustomerMetadataProperties/{k}", v) for k, v in body.get("CustomerMetadataProperties", {}).items()
    ]
    if body.get("CustomerMetadataPropertiesToRemove"):
        context.append(
            ("sagemaker:CustomerMetadataPropertiesToRemove", list(body["CustomerMetadataPropertiesToRemove"]))
        )
    if body.get("ModelApprovalStatus"):
        context.append(("sagemaker:ModelApprovalStatus", body["ModelApprovalStatus"]))
    return tuple(context)


# CloudWatch's metric actions have no resource type (Service Authorization Reference); PutMetricData is conditioned
# on the namespace it writes to (the cloudwatch:namespace condition key).
CLOUDWATCH_METRIC_ACTIONS = ("GetMetricData", "PutMetricData")


def cloudwatch_requests(principal: str, operation: str, body: dict) -> list[Request]:
    """CloudWatch's JSON protocol (botocore sends it to the "monitoring" signing name)."""
    action = f"cloudwatch:{operation}"
    if operation not in CLOUDWATCH_METRIC_ACTIONS:
        raise AccessDenied(
            principal,
            action,
            "?",
            "the rehearsal's gateway does not model this operation; add it to rehearsal/gateway.py",
        )
    context = (("cloudwatch:namespace", body.get("Namespace", "")),) if operation == "PutMetricData" else ()
    return [Request(principal, action, "*", None, context)]


def sts_requests(principal: str, form: dict) -> list[Request]:
    operation = form.get("Action", [""])[0]
    if operation == "AssumeRole":
        role = form["RoleArn"][0]
        return [Request(principal, "sts:AssumeRole", role, account_of(role))]
    if operation == "GetCallerIdentity":
        return []
    raise AccessDenied(principal, f"sts:{operation}", "?", "the rehearsal's gateway does not model this operation")


class Gateway(ThreadingHTTPServer):
    """``Gateway(upstream, directory)``; ``principals`` maps access key ids to role ARNs."""

    daemon_threads = True

    def __init__(self, upstream: str, directory: Directory, *, next_version) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = urlsplit(upstream)
        self.directory = directory
        self.principals: dict[str, str] = {}
        self.next_version = next_version
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> Gateway:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def gateway(self) -> Gateway:
        return cast(Gateway, self.server)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the rehearsal reports what matters
        pass

    def do_GET(self) -> None:
        self._relay()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _relay(self) -> None:
        body = self._body()
        match = _CREDENTIAL.search(self.headers.get("Authorization", ""))
        principal = self.gateway.principals.get(match.group(1)) if match else None
        service = match.group(3) if match else ""
        region = match.group(2) if match else "us-east-1"
        if principal is None:
            # Only deployed roles talk to the gateway; anything else (a leaked host credential) is refused.
            return self._deny(
                service, "AccessDenied: the request is not signed with the credentials of a role the rehearsal deployed"
            )
        try:
            for request in self._requests(principal, service, region, body):
                self.gateway.directory.check(request)
        except AccessDenied as denied:
            return self._deny(service, str(denied))
        status, headers, answer = self._forward(body)
        if service == "sts" and status == 200:
            self._remember_session(body, answer)
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    def _requests(self, principal: str, service: str, region: str, body: bytes) -> list[Request]:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        if service == "s3":
            return s3_requests(principal, self.command, url.path, query, self.headers, self.gateway.directory, region)
        if service == "sagemaker":
            operation = self.headers.get("X-Amz-Target", "").split(".")[-1]
            return sagemaker_requests(
                principal,
                operation,
                json.loads(body or b"{}"),
                region,
                account_of(principal),
                self.gateway.next_version,
            )
        if service == "sts":
            return sts_requests(principal, parse_qs(body.decode()))
        if service == "monitoring":
            operation = self.headers.get("X-Amz-Target", "").split(".")[-1]
            return cloudwatch_requests(principal, operation, json.loads(body or b"{}"))
        raise AccessDenied(principal, f"{service}:?", "?", "the rehearsal's gateway does not model this service")

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self, body: bytes) -> tuple[int, list, bytes]:
        upstream = self.gateway.upstream
        connection = http.client.HTTPConnection(upstream.hostname or "127.0.0.1", upstream.port, timeout=300)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "content-length")}
        headers["Content-Length"] = str(len(body))
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _remember_session(self, body: bytes, answer: bytes) -> None:
        form = parse_qs(body.decode())
        key = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", answer)
        if form.get("Action") == ["AssumeRole"] and key:
            self.gateway.principals[key.group(1).decode()] = form["RoleArn"][0]

    def _deny(self, service: str, message: str) -> None:
        if service == "sagemaker":
            body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
            content_type = "application/x-amz-json-1.1"
        elif service == "sts":
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{escape(message)}"
                "</Message></Error></ErrorResponse>"
            ).encode()
            content_type = "text/xml"
        else:
            body = f"<Error><Code>AccessDenied</Code><Message>{escape(message)}</Message></Error>".encode()
            content_type = "application/xml"
        self.send_response(403)
        self.send_header("Content-Type", content_type)
        if service == "sagemaker":
            self.send_header("x-amzn-ErrorType", "AccessDeniedException")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
