"""`cdk deploy`, rehearsed: publish a stack's assets, then create its template's resources in dependency order.

The template is the one `cdk synth` wrote, intrinsics and all. Resources are created in an order
CloudFormation could choose: a resource waits only for what it references (Ref, Fn::GetAtt,
Fn::Sub) or names in DependsOn, so anything else may not exist yet when it is created. That is
how a missing dependency shows up here as it would on AWS (see ``exists_before``).

What CloudFormation would create is recorded where the rest of the rehearsal looks: buckets,
keys, group and the registry in moto; roles, policies, bucket and key policies in
:class:`rehearsal.iam.Directory`. Everything else gets a physical id and attributes only.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rehearsal.cloud import Cloud
from rehearsal.iam import BucketRecord, KeyRecord, Policy, RoleRecord

NO_VALUE = object()
BOOTSTRAP_QUALIFIER = "hnb659fds"


class DeployError(RuntimeError):
    """CloudFormation would fail this deployment; the message names the resource."""


@dataclass
class Resource:
    logical_id: str
    type: str
    physical_id: str
    attributes: dict[str, str] = field(default_factory=dict)
    properties: dict = field(default_factory=dict)
    retain: bool = False


@dataclass
class Stack:
    name: str
    account: str
    region: str
    template: dict
    resources: dict[str, Resource] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == resource_type]

    def exists_before(self, logical_id: str) -> set[str]:
        """Every resource CloudFormation must have created before ``logical_id`` (transitively)."""
        seen: set[str] = set()
        pending = list(dependencies(self.template["Resources"][logical_id]))
        while pending:
            current = pending.pop()
            if current in seen or current not in self.template["Resources"]:
                continue
            seen.add(current)
            pending += dependencies(self.template["Resources"][current])
        return seen


# Creates one resource type: (deployment, logical id, resolved properties) -> Resource.
Creator = Callable[["Deployment", str, dict], Resource]


def publish_assets(cloud: Cloud, assets_file: Path, *, account: str, region: str) -> None:
    """What `cdk deploy` does first: upload each file asset to the bootstrap bucket (created if new)."""
    manifest = json.loads(assets_file.read_text())
    for asset in manifest.get("files", {}).values():
        source = (assets_file.parent / asset["source"]["path"]).resolve()
        body = _zip_directory(source) if asset["source"].get("packaging") == "zip" else source.read_bytes()
        for destination in asset["destinations"].values():
            bucket = _pseudo(destination["bucketName"], account, region)
            s3 = cloud.admin("s3", account, destination.get("region", region))
            _ensure_bucket(cloud, s3, bucket, account, region)
            s3.put_object(Bucket=bucket, Key=_pseudo(destination["objectKey"], account, region), Body=body)


def bootstrap_bucket(account: str, region: str) -> str:
    return f"cdk-{BOOTSTRAP_QUALIFIER}-assets-{account}-{region}"


def _ensure_bucket(cloud: Cloud, s3, bucket: str, account: str, region: str) -> None:
    if bucket not in cloud.directory.buckets:
        s3.create_bucket(Bucket=bucket)
        # The bootstrap bucket is encrypted with the AWS-managed S3 key, which every principal of the
        # account may use through S3: no key policy to check.
        cloud.directory.buckets[bucket] = BucketRecord(bucket, account, region)


def _pseudo(text: str, account: str, region: str) -> str:
    return (
        text.replace("${AWS::AccountId}", account).replace("${AWS::Region}", region).replace("${AWS::Partition}", "aws")
    )


def _zip_directory(source: Path) -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(source).as_posix())
    return raw.getvalue()


def dependencies(resource: dict) -> set[str]:
    found = set(
        resource.get("DependsOn", [])
        if isinstance(resource.get("DependsOn"), list)
        else [resource["DependsOn"]]
        if "DependsOn" in resource
        else []
    )
    _references(resource.get("Properties", {}), found)
    return found


def _references(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str) and not inner.startswith("AWS::"):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                found.update(
                    name.split(".")[0]
                    for name in re.findall(r"\$\{([^}!][^}]*)\}", text)
                    if not name.startswith("AWS::")
                )
                if isinstance(inner, list):
                    _references(inner[1], found)
            else:
                _references(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _references(inner, found)


class Deployment:
    """One stack's create (and delete), against one account and region of the emulated cloud."""

    def __init__(
        self,
        cloud: Cloud,
        *,
        account: str,
        region: str,
        creators: dict[str, Creator] | None = None,
        parameters: dict[str, str] | None = None,
    ) -> None:
        self.cloud, self.account, self.region = cloud, account, region
        self.creators = {**CREATORS, **(creators or {})}
        self.parameters = parameters or {}
        self._stack: Stack | None = None

    @property
    def stack(self) -> Stack:
        if self._stack is None:
            raise DeployError("no stack deployed yet: call create() first")
        return self._stack

    @stack.setter
    def stack(self, stack: Stack) -> None:
        """Put a deployed stack back, as CloudFormation's rollback of a failed update does."""
        self._stack = stack

    # ---- create -----------------------------------------------------------------------------------
    def create(self, name: str, template: dict) -> Stack:
        self._stack = Stack(name, self.account, self.region, template)
        for logical_id in self._order(template["Resources"]):
            definition = template["Resources"][logical_id]
            if definition["Type"] != "AWS::CDK::Metadata":
                self._create_one(logical_id, definition)
        self.stack.outputs = {key: self.resolve(output["Value"]) for key, output in template.get("Outputs", {}).items()}
        return self.stack

    def _create_one(self, logical_id: str, definition: dict) -> None:
        properties = self.resolve(definition.get("Properties", {}))
        kind = "Custom::" if definition["Type"].startswith("Custom::") else definition["Type"]
        creator = self.creators.get(kind, _generic)
        try:
            resource = creator(self, logical_id, properties)
        except DeployError:
            raise
        except Exception as error:
            raise DeployError(
                f"{self.stack.name}/{logical_id} ({definition['Type']}): CREATE_FAILED: {error}"
            ) from error
        resource.retain = definition.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
        self.stack.resources[logical_id] = resource

    @staticmethod
    def _order(resources: dict) -> list[str]:
        ordered: list[str] = []
        state: dict[str, int] = {}

        def visit(logical_id: str) -> None:
            if state.get(logical_id) == 2:
                return
            if state.get(logical_id) == 1:
                raise DeployError(f"circular dependency at {logical_id}")
            state[logical_id] = 1
            for dependency in sorted(dependencies(resources[logical_id])):
                if dependency in resources:
                    visit(dependency)
            state[logical_id] = 2
            ordered.append(logical_id)

        for logical_id in resources:
            visit(logical_id)
        return ordered

    # ---- update -----------------------------------------------------------------------------------
    def update(self, template: dict) -> Stack:
        """Deploy a new template over the stack: new resources are created, changed ones updated, gone ones deleted.

        Stateful resources (buckets, keys, roles, the group) keep their physical resource; policies are
        replaced; everything else is re-created from its new properties, as a replacement would. If a
        resource fails, what this update added is deleted again, as CloudFormation's rollback does; the
        caller puts the deployed stack back (``stack`` setter).
        """
        old = self.stack
        try:
            return self._update(old, template)
        except DeployError:
            for resource in reversed(list(self.stack.resources.values())):
                if resource.logical_id not in old.resources:
                    DELETERS.get(resource.type, lambda *_: None)(self, resource)
            raise

    def _update(self, old: Stack, template: dict) -> Stack:
        self._stack = Stack(old.name, self.account, self.region, template)
        directory = self.cloud.directory
        for logical_id in self._order(template["Resources"]):
            definition = template["Resources"][logical_id]
            existing = old.resources.get(logical_id)
            if definition["Type"] == "AWS::CDK::Metadata":
                continue
            if existing is not None and existing.type in KEPT_ON_UPDATE:
                properties = self.resolve(definition.get("Properties", {}))
                if existing.type == "AWS::IAM::Role":
                    record = directory.roles[existing.attributes["Arn"]]
                    record.trust = properties["AssumeRolePolicyDocument"]
                existing.properties = properties
                self.stack.resources[logical_id] = existing
                continue
            if existing is not None and existing.type == "AWS::IAM::Policy":
                for record in directory.roles.values():
                    record.policies = [p for p in record.policies if p.source != logical_id]
            self._create_one(logical_id, definition)
        for logical_id, resource in old.resources.items():
            if logical_id not in self.stack.resources and not resource.retain:
                DELETERS.get(resource.type, lambda *_: None)(self, resource)
        self.stack.outputs = {key: self.resolve(output["Value"]) for key, output in template.get("Outputs", {}).items()}
        return self.stack

    # ---- delete -----------------------------------------------------------------------------------
    def delete(self) -> list[str]:
        """Delete what is not retained, in reverse order; returns the retained logical ids."""
        retained = []
        for resource in reversed(list(self.stack.resources.values())):
            if resource.retain:
                retained.append(resource.logical_id)
                continue
            DELETERS.get(resource.type, lambda *_: None)(self, resource)
        return retained

    # ---- intrinsics -------------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, inner),) = value.items()
                if key == "Ref" or key.startswith("Fn::"):
                    return self._intrinsic(key, inner)
            resolved = {key: self.resolve(inner) for key, inner in value.items()}
            return {key: inner for key, inner in resolved.items() if inner is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.resolve(inner) for inner in value) if item is not NO_VALUE]
        return value

    def _intrinsic(self, key: str, inner: Any) -> Any:
        if key == "Ref":
            return self.ref(inner)
        if key == "Fn::GetAtt":
            logical_id, attribute = inner if isinstance(inner, list) else inner.split(".", 1)
            return self.get_att(logical_id, attribute)
        if key == "Fn::Join":
            separator, items = inner
            return separator.join(str(item) for item in self.resolve(items))
        if key == "Fn::Sub":
            return self._sub(inner)
        if key == "Fn::Select":
            index, items = self.resolve(inner)
            return items[int(index)]
        if key == "Fn::Split":
            separator, text = self.resolve(inner)
            return text.split(separator)
        if key == "Fn::If":
            condition, when_true, when_false = inner
            return self.resolve(when_true if self.condition(condition) else when_false)
        if key == "Fn::Equals":
            left, right = self.resolve(inner)
            return left == right
        raise DeployError(f"the rehearsal does not resolve {key}")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.stack.template["Conditions"][name]))

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
            "AWS::StackName": self.stack.name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack.name}/"
            f"{_digest(self.stack.name, self.account)}",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.stack.template.get("Parameters", {}):
            return self.parameters.get(name, self.stack.template["Parameters"][name].get("Default"))
        if name not in self.stack.resources:
            raise DeployError(f"Ref {name}: not created yet; a missing dependency in the template")
        return self.stack.resources[name].physical_id

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.stack.resources.get(logical_id)
        if resource is None:
            raise DeployError(f"Fn::GetAtt {logical_id}.{attribute}: not created yet")
        if attribute not in resource.attributes:
            if resource.type in CREATORS or resource.type.startswith("Custom::"):
                raise DeployError(f"Fn::GetAtt {logical_id}.{attribute}: {resource.type} has no such attribute")
            # Types the rehearsal only names (alarms, pipelines, build projects): a stable placeholder.
            return f"{resource.physical_id}.{attribute}"
        return resource.attributes[attribute]

    def _sub(self, inner: Any) -> str:
        text, variables = (inner, {}) if isinstance(inner, str) else (inner[0], self.resolve(inner[1]))

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    # ---- naming -------------------------------------------------------------------------------------
    def generated_name(self, logical_id: str, limit: int = 63, lower: bool = False) -> str:
        """CloudFormation's `<stack>-<logical id>-<suffix>` for resources the template leaves unnamed."""
        suffix = _digest(self.stack.name, logical_id, self.account)[:12].upper()
        name = f"{self.stack.name[:20]}-{logical_id[: limit - 35]}-{suffix}"
        return name.lower() if lower else name

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


# ---- creators: what CloudFormation does per type ------------------------------------------------------
def _generic(deployment: Deployment, logical_id: str, properties: dict) -> Resource:
    name = deployment.generated_name(logical_id)
    resource_type = deployment.stack.template["Resources"][logical_id]["Type"]
    return Resource(
        logical_id, resource_type, name, {"Arn": deployment.arn(resource_type.split("::")[1].lower(), name)}, properties
    )


def _key(deployment: Deployment, logical_id: str, properties: dict) -> Resource:
    key_id = str(_uuid(deployment, logical_id))
    arn = deployment.arn("kms", f"key/{key_id}")
    deployment.cloud.directory.keys[arn] = KeyRecord(arn, deployment.account, properties.get("KeyPolicy", {}))
    return Resource(logical_id, "AWS::KMS::Key", key_id, {"Arn": arn, "KeyId": key_id}, properties)


def _bucket(deployment: Deployment, logical_id: str, properties: dict) -> Resource:
    name = properties.get("BucketName") or deployment.generated_name(logical_id, lower=True)
    directory = deployment.cloud.directory
    if name in directory.buckets:
        raise DeployError(f"{logical_id}: {name} already exists (BucketAlreadyOwnedByYou)")
    deployment.cloud.admin("s3", deployment.account, deployment.region).create_bucket(Bucket=name)
    rules = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    default = rules[0].get("ServerSideEncryptionByDefault", {}) if rules else {}
    key_arn = default.get("KMSMasterKeyID") if default.get("SSEAlgorithm") == "aws:kms" else None
    directory.buckets[name] = BucketRecord(name, deployment.account, deployment.region, key_arn)
    return Resource(
        logical_id,
        "AWS::S3::Bucket",
        name,
        {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{deployment.region}.amazonaws.com",
        },
        properties,
    )


def _bucket_policy(deployment: Deployment, logical_id: str, properties: dict) -> Resource:
    deployment.cloud.directory.buckets[properties["Bucket"]].policy = properties["PolicyDocument"]
    return Resource(logical_id, "AWS::S3::BucketPolicy", properties["Bucket"], {}, properties)


def _role(deployment: Deployment, logical_id: str, properties: dict) -> Resource:
    name = properties.get("RoleName") or deployment.generated_name(logical_id, limit=64)
    arn = f"arn:aws:iam::{deployment.account}:role{properties.get('Path', '/')}{name}"
    inline = [Policy(p["PolicyName"], p["PolicyDocument"]) for p in properties.get("Policies", [])]
    deployment.cloud.directory.roles[arn] = RoleRecord(
        arn, deployment.account, properties["AssumeRolePolicyDocument"], inline
    )
    return Resource(logical_id, "AWS::IAM::Role", name, {"Arn": arn, "RoleId": _digest(arn)[:21].upper()}, properties)


def _policy(deployment: Deployment, logical_id: str, properties: dict) -> Resource:
    directory = deployment.cloud.directory
    for role_name in properties.get("Roles", []):
        directory.role_named(deployment.account, role_name).policies.append(
            Policy(properties["PolicyName"], properties["PolicyDocument"], source=logical_id)
        )
    return Resource(logical_id, "AWS::IAM::Policy", properties["PolicyName"], {}, properties)


def _package_group(deployment: Deployment, logical_id: str, properties: dict) -> Resource:
    name = properties.get("ModelPackageGroupName") or deployment.generated_name(logical_id)
    sagemaker = deployment.cloud.admin("sagemaker", deployment.account, deployment.region)
    # moto accepts a second group of the same name; SageMaker does not, and neither does CloudFormation.
    existing = {
        g["ModelPackageGroupName"] for g in sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    }
    if name in existing:
        raise DeployError(
            f"{deployment.stack.name}/{logical_id} (AWS::SageMaker::ModelPackageGroup): CREATE_FAILED: "
            f"{name} already exists (AlreadyExists), e.g. retained by an earlier deployment of this "
            "stack. Fix: let a group that is deleted with its stack be deleted, or name it per stack."
        )
    sagemaker.create_model_package_group(ModelPackageGroupName=name)
    arn = deployment.arn("sagemaker", f"model-package-group/{name}")
    if properties.get("ModelPackageGroupPolicy"):
        policy = properties["ModelPackageGroupPolicy"]
        deployment.cloud.directory.group_policies[arn] = json.loads(policy) if isinstance(policy, str) else policy
    return Resource(
        logical_id,
        "AWS::SageMaker::ModelPackageGroup",
        arn,
        {"ModelPackageGroupArn": arn, "ModelPackageGroupName": name},
        properties,
    )


def _named_sagemaker(kind: str, name_property: str, name_attribute: str) -> Creator:
    """Model, EndpointConfig, Endpoint, Pipeline: Ref is the ARN (the name for pipelines)."""

    def create(deployment: Deployment, logical_id: str, properties: dict) -> Resource:
        name = properties.get(name_property) or deployment.generated_name(logical_id)
        arn = deployment.arn("sagemaker", f"{kind}/{name.lower()}")
        resource_type = deployment.stack.template["Resources"][logical_id]["Type"]
        physical = name if kind == "pipeline" else arn
        return Resource(logical_id, resource_type, physical, {name_attribute: name, "Arn": arn}, properties)

    return create


def _topic(deployment: Deployment, logical_id: str, properties: dict) -> Resource:
    name = properties.get("TopicName") or deployment.generated_name(logical_id, limit=256)
    arn = deployment.arn("sns", name)
    return Resource(logical_id, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name}, properties)


def _log_group(deployment: Deployment, logical_id: str, properties: dict) -> Resource:
    name = properties.get("LogGroupName") or deployment.generated_name(logical_id, limit=512)
    logs = deployment.cloud.admin("logs", deployment.account, deployment.region)
    try:
        logs.create_log_group(logGroupName=name)
    except logs.exceptions.ResourceAlreadyExistsException as error:
        raise DeployError(
            f"{deployment.stack.name}/{logical_id} (AWS::Logs::LogGroup): CREATE_FAILED: {name} already exists, "
            "e.g. retained by an earlier deployment of this stack. Fix: delete it or import it into the stack."
        ) from error
    if properties.get("RetentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(properties["RetentionInDays"]))
    # As CloudFormation gives it: Ref is the name, Arn ends with ":*" (the group's streams).
    arn = deployment.arn("logs", f"log-group:{name}:*")
    return Resource(logical_id, "AWS::Logs::LogGroup", name, {"Arn": arn}, properties)


def _metric_filter(deployment: Deployment, logical_id: str, properties: dict) -> Resource:
    name = properties.get("FilterName") or deployment.generated_name(logical_id, limit=512)
    deployment.cloud.admin("logs", deployment.account, deployment.region).put_metric_filter(
        logGroupName=properties["LogGroupName"],
        filterName=name,
        filterPattern=properties["FilterPattern"],
        metricTransformations=[_transformation(t) for t in properties["MetricTransformations"]],
    )
    return Resource(logical_id, "AWS::Logs::MetricFilter", name, {}, properties)


def _transformation(transformation: dict) -> dict:
    """CloudFormation's MetricTransformation (MetricName, ...) as the API takes it (metricName, ...)."""
    api = {key[0].lower() + key[1:]: value for key, value in transformation.items()}
    if "defaultValue" in api:
        api["defaultValue"] = float(api["defaultValue"])
    return api


def _uuid(deployment: Deployment, logical_id: str) -> str:
    digest = _digest(deployment.stack.name, logical_id, deployment.account)
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _delete_bucket(deployment: Deployment, resource: Resource) -> None:
    s3 = deployment.cloud.admin("s3", deployment.account, deployment.region)
    if s3.list_object_versions(Bucket=resource.physical_id).get("Versions"):
        raise DeployError(f"{resource.logical_id}: DELETE_FAILED: the bucket is not empty")
    s3.delete_bucket(Bucket=resource.physical_id)
    deployment.cloud.directory.buckets.pop(resource.physical_id, None)


def _delete_log_group(deployment: Deployment, resource: Resource) -> None:
    deployment.cloud.admin("logs", deployment.account, deployment.region).delete_log_group(
        logGroupName=resource.physical_id
    )


def _delete_metric_filter(deployment: Deployment, resource: Resource) -> None:
    deployment.cloud.admin("logs", deployment.account, deployment.region).delete_metric_filter(
        logGroupName=resource.properties["LogGroupName"], filterName=resource.physical_id
    )


def _delete_group(deployment: Deployment, resource: Resource) -> None:
    # moto has no DeleteModelPackageGroup; remove it from moto's own store, as the API would.
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[deployment.account][deployment.region]
    backend.model_package_groups.pop(resource.attributes["ModelPackageGroupName"], None)


def _delete_role(deployment: Deployment, resource: Resource) -> None:
    deployment.cloud.directory.roles.pop(resource.attributes["Arn"], None)


def _scalable_target(deployment: Deployment, logical_id: str, properties: dict) -> Resource:
    """RegisterScalableTarget in moto; Ref is CloudFormation's "resource id|dimension|namespace"."""
    client = deployment.cloud.admin("application-autoscaling", deployment.account, deployment.region)
    # CloudFormation's tags are a list of Key/Value pairs; the API takes a map.
    tags = {tag["Key"]: tag["Value"] for tag in properties.get("Tags", [])}
    client.register_scalable_target(**{**properties, "Tags": tags} if tags else properties)
    physical = "|".join(properties[k] for k in ("ResourceId", "ScalableDimension", "ServiceNamespace"))
    return Resource(logical_id, "AWS::ApplicationAutoScaling::ScalableTarget", physical, {}, properties)


def _scaling_policy(deployment: Deployment, logical_id: str, properties: dict) -> Resource:
    """PutScalingPolicy on the target its ScalingTargetId (the target's Ref) names."""
    resource_id, dimension, namespace = properties["ScalingTargetId"].split("|")
    request = {k: v for k, v in properties.items() if k != "ScalingTargetId"}
    client = deployment.cloud.admin("application-autoscaling", deployment.account, deployment.region)
    arn = client.put_scaling_policy(
        ServiceNamespace=namespace, ResourceId=resource_id, ScalableDimension=dimension, **request
    )["PolicyARN"]
    return Resource(logical_id, "AWS::ApplicationAutoScaling::ScalingPolicy", arn, {"Arn": arn}, properties)


CREATORS: dict[str, Creator] = {
    "AWS::KMS::Key": _key,
    "AWS::S3::Bucket": _bucket,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::IAM::Role": _role,
    "AWS::IAM::Policy": _policy,
    "AWS::SageMaker::ModelPackageGroup": _package_group,
    "AWS::SageMaker::Pipeline": _named_sagemaker("pipeline", "PipelineName", "PipelineName"),
    "AWS::SageMaker::Model": _named_sagemaker("model", "ModelName", "ModelName"),
    "AWS::SageMaker::EndpointConfig": _named_sagemaker("endpoint-config", "EndpointConfigName", "EndpointConfigName"),
    "AWS::SageMaker::Endpoint": _named_sagemaker("endpoint", "EndpointName", "EndpointName"),
    "AWS::SNS::Topic": _topic,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::Logs::MetricFilter": _metric_filter,
    "AWS::ApplicationAutoScaling::ScalableTarget": _scalable_target,
    "AWS::ApplicationAutoScaling::ScalingPolicy": _scaling_policy,
}
KEPT_ON_UPDATE = {
    "AWS::S3::Bucket",
    "AWS::KMS::Key",
    "AWS::IAM::Role",
    "AWS::SageMaker::ModelPackageGroup",
    "AWS::Logs::LogGroup",
}
DELETERS = {
    "AWS::S3::Bucket": _delete_bucket,
    "AWS::SageMaker::ModelPackageGroup": _delete_group,
    "AWS::IAM::Role": _delete_role,
    "AWS::Logs::LogGroup": _delete_log_group,
    "AWS::Logs::MetricFilter": _delete_metric_filter,
}
