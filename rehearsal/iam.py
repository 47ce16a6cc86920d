"""Who may do what in the rehearsal: the synthesized policies, decided by a maintained IAM policy engine.

Every role, bucket policy, key policy and trust policy that the rehearsal deploys is recorded here
as CloudFormation would create it. A request made on behalf of a role is then decided by
``@cloud-copilot/iam-simulate`` (npm; ``policy_engine.mjs`` keeps one Node process open) with the
role's identity policies and the resource's own policy, same-account and cross-account rules
included. A denied request raises :class:`AccessDenied`, naming the role, action, resource and why.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from stacks.project import ROOT

ENGINE = Path(__file__).with_name("policy_engine.mjs")


class AccessDenied(RuntimeError):
    """A request the deployed policies do not allow."""

    def __init__(self, principal: str, action: str, resource: str, reason: str) -> None:
        super().__init__(f"AccessDenied: {principal} may not {action} on {resource}: {reason}")
        self.principal, self.action, self.resource, self.reason = principal, action, resource, reason


@dataclass
class Policy:
    """One policy document, and the template resource that created it (None: the role's inline policy)."""

    name: str
    document: dict
    source: str | None = None


@dataclass
class RoleRecord:
    arn: str
    account: str
    trust: dict
    policies: list[Policy] = field(default_factory=list)
    # The permissions boundary's document: what the role may do at most, whatever its policies allow.
    boundary: dict | None = None
    # Its tags: what sts:AssumeRole is decided by, as iam:ResourceTag/<key>, where a policy names one.
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class BucketRecord:
    name: str
    account: str
    region: str
    key_arn: str | None = None
    policy: dict | None = None


@dataclass
class KeyRecord:
    arn: str
    account: str
    policy: dict


@dataclass(frozen=True)
class Request:
    """One IAM authorization: ``resource`` is an ARN, or ``*`` for actions without resource types."""

    principal: str
    action: str
    resource: str
    resource_account: str | None = None
    context: tuple = ()
    resource_policy: str | None = None  # what the resource policy is, for messages


# The Deep Learning Containers' repositories let every AWS account pull (what their own policy grants).
PUBLIC_IMAGE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DeepLearningContainersPull",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": "*",
        }
    ],
}


_REGISTRY_ARN = re.compile(r"^(?P<prefix>arn:[^:]+:sagemaker:[^:]*:\d{12}):model-package(-group)?/(?P<group>[^/]+)")


def account_of(arn: str) -> str:
    return arn.split(":")[4]


def encryption_context_holds(ignored: dict | None, request: Request) -> bool:
    """The conditions the engine reported it could not evaluate hold for ``request``: only
    kms:EncryptionContext:<key> with ArnLike, ArnEquals, StringLike or StringEquals is decided; anything else the
    engine could not evaluate counts as not holding."""
    context = dict(request.context)
    for side in (ignored or {}).values():
        if side.get("deny"):
            return False  # a Deny the engine could not evaluate might apply
        for condition in side.get("allow", []):
            key, operator, values = condition["key"], condition["op"], condition["values"]
            if not key.lower().startswith("kms:encryptioncontext:") or key not in context:
                return False
            if operator not in ("ArnLike", "StringLike", "ArnEquals", "StringEquals"):
                return False
            matcher = fnmatch.fnmatchcase if operator.endswith("Like") else str.__eq__
            if not any(matcher(context[key], value) for value in values):
                return False
    return True


class PolicyEngine:
    """One long-lived ``node policy_engine.mjs``; requests are serialized over its stdin/stdout."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            ["node", str(ENGINE)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self._lock = threading.Lock()
        self._next = 0

    def simulate(self, simulation: dict, mode: str = "Strict") -> dict:
        with self._lock:
            self._next += 1
            assert self._process.stdin and self._process.stdout
            self._process.stdin.write(json.dumps({"id": self._next, "simulation": simulation, "mode": mode}) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the IAM policy engine stopped; is node_modules installed (`make install`)?")
        return json.loads(line)

    def close(self) -> None:
        if self._process.poll() is None and self._process.stdin is not None:
            self._process.stdin.close()
            self._process.wait(timeout=10)


class Directory:
    """The deployed policies of every account, and the decisions made on them."""

    def __init__(self, engine: PolicyEngine) -> None:
        self.engine = engine
        self.roles: dict[str, RoleRecord] = {}
        self.buckets: dict[str, BucketRecord] = {}
        self.keys: dict[str, KeyRecord] = {}
        self.group_policies: dict[str, dict] = {}
        self.repository_policies: dict[str, dict] = {}
        # Customer managed policies by ARN (the bootstrap's permissions boundary).
        self.managed_policies: dict[str, dict] = {}
        self.decisions: list[tuple[Request, bool, str]] = []
        self._lock = threading.Lock()

    # ---- what is deployed -------------------------------------------------------------------------
    def role(self, arn: str) -> RoleRecord:
        if arn not in self.roles:
            raise KeyError(f"{arn}: no such role is deployed in the rehearsal")
        return self.roles[arn]

    def role_named(self, account: str, name: str) -> RoleRecord:
        for record in self.roles.values():
            if record.account == account and record.arn.rsplit("/", 1)[-1] == name:
                return record
        raise KeyError(f"role {name} is not deployed in account {account}")

    # ---- decisions --------------------------------------------------------------------------------
    def check(self, request: Request, *, only_sources: set[str] | None = None) -> None:
        """Raise AccessDenied unless ``request`` is allowed.

        ``only_sources`` keeps only the role's policies created by these template resources (and its
        inline ones): what exists at a given moment of a deployment.
        """
        role = self.role(request.principal)
        policies = [p for p in role.policies if only_sources is None or p.source is None or p.source in only_sources]
        resource_policy = self._resource_policy(request)
        simulation = {
            "identityPolicies": [{"name": p.name, "policy": p.document} for p in policies],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
            "request": {
                "action": request.action,
                "principal": request.principal,
                "resource": {"resource": request.resource, "accountId": request.resource_account or role.account},
                "contextVariables": {
                    "aws:SecureTransport": "true",
                    "aws:PrincipalArn": request.principal,
                    "aws:PrincipalAccount": role.account,
                    **self._assumed_role_tags(request),
                    **dict(request.context),
                },
            },
        }
        if resource_policy is not None:
            simulation["resourcePolicy"] = resource_policy
        if role.boundary is not None:
            simulation["permissionBoundaryPolicies"] = [{"name": "permissions-boundary", "policy": role.boundary}]
        answer = self.engine.simulate(simulation)
        allowed = answer.get("decision") == "Allowed"
        reason = "" if allowed else self._reason(answer, request, policies, resource_policy, role.account)
        self._settle(request, allowed, reason)

    def _assumed_role_tags(self, request: Request) -> dict[str, str]:
        """sts:AssumeRole is authorized on the role assumed, whose tags IAM gives as iam:ResourceTag/<key>."""
        target = self.roles.get(request.resource) if request.action == "sts:AssumeRole" else None
        return {f"iam:ResourceTag/{key}": value for key, value in (target.tags if target else {}).items()}

    def check_service(self, request: Request, *, resource_policy: dict | None = None) -> None:
        """Raise AccessDenied unless the resource policy lets a service principal (``request.principal``, e.g.
        ``logs.us-east-1.amazonaws.com``) make ``request``: a service has no identity policy to allow it."""
        policy = resource_policy if resource_policy is not None else self._resource_policy(request)
        simulation = {
            "identityPolicies": [],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
            "request": {
                "action": request.action,
                "principal": request.principal,
                "resource": {"resource": request.resource, "accountId": request.resource_account or ""},
                "contextVariables": {"aws:SecureTransport": "true", **dict(request.context)},
            },
            **({"resourcePolicy": policy} if policy is not None else {}),
        }
        answer = self.engine.simulate(simulation)
        allowed = answer.get("decision") == "Allowed"
        if not allowed and any(key.lower().startswith("kms:encryptioncontext:") for key, _ in request.context):
            # Discovery: the engine matches a variable key only after "/" (aws:RequestTag/x), so it cannot evaluate
            # kms:EncryptionContext:<key>; it reports such conditions (and those of every statement that did not
            # match), and they are decided here (encryption_context_holds).
            answer = self.engine.simulate(simulation, mode="Discovery")
            allowed = answer.get("decision") == "Allowed" and encryption_context_holds(answer.get("ignored"), request)
        reason = (
            ""
            if allowed
            else ("no resource policy" if policy is None else "its resource policy has no statement allowing it")
            + f" (a service principal is allowed by the resource policy alone; {answer.get('decision')})"
        )
        self._settle(request, allowed, reason)

    def _settle(self, request: Request, allowed: bool, reason: str) -> None:
        """Record the decision; a denied request raises AccessDenied with its reason."""
        with self._lock:
            self.decisions.append((request, allowed, reason))
        if not allowed:
            raise AccessDenied(request.principal, request.action, request.resource, reason)

    def _resource_policy(self, request: Request) -> dict | None:
        service = request.action.split(":")[0]
        if service == "s3" and request.resource.startswith("arn:aws:s3:::"):
            bucket = self.buckets.get(request.resource[len("arn:aws:s3:::") :].split("/")[0])
            return bucket.policy if bucket else None
        if service == "kms":
            key = self.keys.get(request.resource)
            return key.policy if key else None
        if service == "sts":
            role = self.roles.get(request.resource)
            return role.trust if role else None
        if service == "ecr":
            return self.repository_policies.get(request.resource, PUBLIC_IMAGE_POLICY)
        registry = _REGISTRY_ARN.match(request.resource) if service == "sagemaker" else None
        if registry:
            return self.group_policies.get(f"{registry.group('prefix')}:model-package-group/{registry.group('group')}")
        return None

    @staticmethod
    def _reason(
        answer: dict, request: Request, policies: list[Policy], resource_policy: dict | None, account: str
    ) -> str:
        if answer.get("decision") == "Error":
            return f"the policy engine rejected the request: {json.dumps(answer.get('errors'))[:300]}"
        if answer.get("deniedBy"):
            return f"explicitly denied by {', '.join(answer['deniedBy'])}"
        names = ", ".join(p.name for p in policies) or "none"
        other = request.resource_account not in (None, account)
        if other and (resource_policy is None or answer.get("resource") not in ("Allowed", "AllowedForAccount")):
            shared = "has no resource policy" if resource_policy is None else "has a resource policy that"
            return (
                f"the resource is in account {request.resource_account}, which {shared} does not allow "
                f"{account} (cross-account access needs the resource policy and the identity policy)".replace(
                    "has no resource policy does not allow", "has no resource policy allowing"
                )
            )
        if answer.get("identity") not in ("Allowed", None):
            return f"no statement of its identity policies ({names}) allows it"
        if resource_policy is not None and answer.get("resource") not in ("Allowed", "AllowedForAccount"):
            where = "another account's" if not answer.get("sameAccount", True) else "the"
            return f"{where} resource policy does not allow it (cross-account access needs both sides)"
        return (
            f"denied ({answer.get('decision')}; identity {answer.get('identity')}, resource {answer.get('resource')})"
        )

    def denials(self) -> list[tuple[Request, str]]:
        return [(request, reason) for request, allowed, reason in self.decisions if not allowed]
