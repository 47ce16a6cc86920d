"""Emulated AWS for the rehearsal: moto in server mode on loopback, behind the IAM-enforcing gateway.

``Cloud.admin(account)`` acts as the deployer (CloudFormation, ``cdk deploy``'s asset publishing):
it talks to moto directly, unchecked. ``Cloud.as_role(arn)`` acts as a deployed role: its requests
go through the gateway and are authorized against the synthesized policies. ``Cloud.env_for(arn)``
gives a job process the same credentials and endpoint, as SageMaker gives a container its role.
"""

from __future__ import annotations

import logging
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from rehearsal.gateway import Gateway
from rehearsal.iam import Directory, PolicyEngine
from training import model_registry

SECRET = "rehearsal-secret"  # moto accepts any secret; the access key id carries the identity
# Path-style addressing: the gateway reads the bucket from the path; no checksum trailers to re-encode.
CLIENT_CONFIG = Config(
    s3={"addressing_style": "path"},
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
    retries={"max_attempts": 2},
)


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str


class Cloud:
    """Start with ``with Cloud(region) as cloud:``; everything listens on 127.0.0.1 only."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self._directory: Directory | None = None
        self._moto = None
        self._gateway: Gateway | None = None
        self._credentials: dict[str, Credentials] = {}
        self._admins: dict[str, Credentials] = {}

    def __enter__(self) -> Cloud:
        from moto.server import ThreadedMotoServer

        from rehearsal import moto_fixes

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_fixes.apply()

        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        # moto keeps its accounts in this process: every rehearsal starts from an empty cloud.
        urllib.request.urlopen(urllib.request.Request(f"{self.moto_url}/moto-api/reset", method="POST"), timeout=30)
        self._directory = Directory(PolicyEngine())
        self._gateway = Gateway(self.moto_url, self.directory, next_version=self._next_package_version).start()
        self.url = self._gateway.url
        return self

    def __exit__(self, *exc) -> None:
        if self._gateway:
            self._gateway.stop()
        if self._directory:
            self._directory.engine.close()
        if self._moto:
            self._moto.stop()

    @property
    def directory(self) -> Directory:
        """Who exists and what they may do; set up by ``with Cloud(...)``."""
        if self._directory is None:
            raise RuntimeError("the emulated cloud is not running: use `with Cloud(region) as cloud:`")
        return self._directory

    # ---- clients ----------------------------------------------------------------------------------
    def admin(self, service: str, account: str, region: str | None = None) -> Any:
        """The deployer in ``account``: moto directly, no IAM check."""
        deployer = f"arn:aws:iam::{account}:role/rehearsal-deployer"
        if deployer not in self._admins:
            self._admins[deployer] = self._assume(deployer)
        return self._client(service, self._admins[deployer], self.moto_url, region)

    def as_role(self, service: str, role_arn: str, region: str | None = None) -> Any:
        """A client acting as ``role_arn``: every request is authorized by the gateway."""
        return self._client(service, self.credentials(role_arn), self.url, region)

    def credentials(self, role_arn: str) -> Credentials:
        if role_arn not in self._credentials:
            self._credentials[role_arn] = self._assume(role_arn)
            assert self._gateway is not None, "with Cloud(...) starts the gateway"
            self._gateway.principals[self._credentials[role_arn].access_key_id] = role_arn
        return self._credentials[role_arn]

    def env_for(self, role_arn: str, region: str | None = None) -> dict[str, str]:
        """What a job container gets to act as its role: credentials, region, and (here) the endpoint."""
        creds = self.credentials(role_arn)
        return {
            "AWS_ACCESS_KEY_ID": creds.access_key_id,
            "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
            "AWS_SESSION_TOKEN": creds.session_token,
            "AWS_DEFAULT_REGION": region or self.region,
            "AWS_REGION": region or self.region,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        }

    def _assume(self, role_arn: str) -> Credentials:
        sts = boto3.client(
            "sts",
            region_name=self.region,
            endpoint_url=self.moto_url,
            aws_access_key_id="rehearsal",
            aws_secret_access_key=SECRET,
        )
        answer = sts.assume_role(RoleArn=role_arn, RoleSessionName="rehearsal")["Credentials"]
        return Credentials(answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"])

    def _client(self, service: str, creds: Credentials, url: str, region: str | None) -> Any:
        return boto3.client(
            service,
            region_name=region or self.region,
            endpoint_url=url,
            config=CLIENT_CONFIG,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
        )

    def _next_package_version(self, group: str, account: str) -> int:
        """The version CreateModelPackage will get: the IAM resource of that request."""
        return len(model_registry.packages(self.admin("sagemaker", account), group)) + 1
