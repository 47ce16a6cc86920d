"""What a deployed stage stack holds, found as SageMaker would find it: its pipelines, the model its endpoint
serves, the batch model, and the container each would run (a registered package's, with the model's environment)."""

from __future__ import annotations

import json

from rehearsal.cloud import Cloud
from rehearsal.cloudformation.model import Resource, Stack

PIPELINE_OUTPUTS = {"training": "TrainingPipelineName", "distillation": "DistillationPipelineName"}


def deployed_pipeline(stack: Stack, kind: str) -> tuple[str, dict, str]:
    """The name, definition and role of the stack's ``training`` or ``distillation`` pipeline, as deployed."""
    name = stack.outputs[PIPELINE_OUTPUTS[kind]]
    pipeline = next(p for p in stack.of_type("AWS::SageMaker::Pipeline") if p.physical_id == name)
    return (
        name,
        json.loads(pipeline.properties["PipelineDefinition"]["PipelineDefinitionBody"]),
        pipeline.properties["RoleArn"],
    )


def served_model(stack: Stack) -> Resource:
    """The model the endpoint config serves; the stack also holds batch scoring's."""
    (config,) = stack.of_type("AWS::SageMaker::EndpointConfig")
    return model_named(stack, config.properties["ProductionVariants"][0]["ModelName"])


def model_named(stack: Stack, name: str) -> Resource:
    return next(m for m in stack.of_type("AWS::SageMaker::Model") if m.attributes["ModelName"] == name)


def model_container(cloud: Cloud, stack: Stack, model: Resource) -> tuple[dict, str]:
    """The container the endpoint would run: the package's, with the Model's own environment on top."""
    primary = model.properties["PrimaryContainer"]
    if "ModelPackageName" in primary:
        package_arn = primary["ModelPackageName"]
        described = cloud.admin("sagemaker", package_arn.split(":")[4], stack.region).describe_model_package(
            ModelPackageName=package_arn
        )
        container = described["InferenceSpecification"]["Containers"][0]
        merged = {
            **container,
            "Environment": {**container.get("Environment", {}), **primary.get("Environment", {})},
        }
        return merged, container["ModelDataUrl"]
    return primary, primary["ModelDataUrl"]
