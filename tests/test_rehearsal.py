"""The rehearsal runs what `cdk synth` writes; each defect it was built to catch fails through it.

The short tests deploy a synthesized template into the emulated cloud and run one step or one
deployment of it, with the template or the deployed policy as the old code had it: each must fail
the way AWS would. The long ones run `textclf rehearse` end to end, as `make run` does.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from cli import local_run
from rehearsal import command, eventbridge, probes, synth
from rehearsal.cloud import Cloud
from rehearsal.cloudformation import custom_resources
from rehearsal.cloudformation.model import DeployError
from rehearsal.deployed import deployed_pipeline
from rehearsal.eventbridge import EVENTS
from rehearsal.iam import AccessDenied, Request
from rehearsal.monitoring import rehearse_late_labels
from rehearsal.pipeline_run import upload_user_data
from rehearsal.report import RehearsalFailed, Report
from rehearsal.sagemaker import api, steps
from rehearsal.sagemaker.channels import pack_model_dir, split_uri
from rehearsal.sagemaker.containers import namespaces_available
from rehearsal.sagemaker.context import JobContext
from rehearsal.sagemaker.pipelines import Execution, PipelineFailed, StepError
from rehearsal.serving import fleet
from rehearsal.session import SINGLE_ACCOUNT as ACCOUNT
from rehearsal.session import Options, Session
from stacks.images import images_for
from stacks.project import ROOT
from training import contract

INFERENCE_IMAGE = images_for("us-east-1").inference

REGION = "us-east-1"
# Jobs run in their own mount and network namespaces, which an unprivileged container (the delivery
# pipeline's CodeBuild Synth step) cannot create; this machine and CI can.
runs_jobs = pytest.mark.skipif(
    not namespaces_available(), reason="no mount/network namespaces here (unprivileged container): jobs cannot run"
)

# Trains, runs jobs or serves a model: the delivery pipeline's Rehearse action runs this module, Synth does not.
pytestmark = pytest.mark.workload


@pytest.fixture(scope="module")
def assemblies(tmp_path_factory):
    out = tmp_path_factory.mktemp("rehearsal-synth")
    return {"dev": synth.synthesize(out / "dev", context={"stage": "dev"})}


@pytest.fixture
def cloud():
    with Cloud() as emulated:
        yield emulated


def rehearsal_in(cloud: Cloud, tmp_path: Path) -> Session:
    return Session(cloud, Options(stage="dev", output=tmp_path, interrupt_at_step=None), Report())


def deploy_dev(cloud, tmp_path, assembly, template=None):
    rehearsal = rehearsal_in(cloud, tmp_path)
    artifact = synth.stack_named(assembly, "Dev-Mlops")
    if template is not None:
        artifact = synth.StackArtifact(
            artifact.name,
            _write(tmp_path / "dev.template.json", template),
            artifact.assets_path,
            artifact.account,
            artifact.region,
        )
    deployment, stack = rehearsal.deploy(artifact, ACCOUNT)
    return rehearsal, deployment, stack


def pipeline_definition(stack) -> tuple[dict, str]:
    """The fine-tune pipeline's definition and role."""
    _, definition, role = deployed_pipeline(stack, "training")
    return definition, role


def step(definition: dict, name: str) -> dict:
    """A step of the definition by name, at any depth of its conditions' branches."""

    def every(steps: list[dict]):
        for found in steps:
            yield found
            if found["Type"] == "Condition":
                yield from every(found["Arguments"]["IfSteps"] + found["Arguments"]["ElseSteps"])

    return next(s for s in every(definition["Steps"]) if s["Name"] == name)


def job_context(cloud, stack, role: str, work: Path) -> JobContext:
    """What the rehearsal runs a deployed pipeline's steps with: its jobs, and its functions as their roles."""
    return JobContext(
        cloud=cloud,
        account=ACCOUNT,
        region=REGION,
        pipeline_role=role,
        workdir=work / "jobs",
        log=lambda line: None,
        call_function=lambda arn, event: custom_resources.call(cloud, stack, arn, event, work / "functions"),
    )


def run_steps(rehearsal, stack, definition, role, names, *, properties=None):
    definition = {**definition, "Steps": [step(definition, name) for name in names]}
    context = job_context(rehearsal.cloud, stack, role, rehearsal.work)
    base = f"{stack.outputs['BaseModelUri']}all-minilm-l6-v2/"
    execution = Execution.start(
        definition,
        execution_id="test0execution",
        runners=steps.runners(context),
        overrides={"BaseModelUri": base, "Epochs": "0.05"},
    )
    execution.properties.update(properties or {})
    return execution.run()


def _write(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document))
    return path


# ---- defect 1: code under network isolation ------------------------------------------------------------
@runs_jobs
def test_an_s3_submit_directory_under_network_isolation_fails_train_with_the_toolkits_own_error(
    cloud, tmp_path, assemblies
):
    rehearsal, _, stack = deploy_dev(cloud, tmp_path, assemblies["dev"])
    upload_user_data(rehearsal, stack, ACCOUNT)
    definition, role = pipeline_definition(stack)
    train = step(definition, "Train")["Arguments"]
    assert train["EnableNetworkIsolation"] is True
    code = next(c for c in train["InputDataConfig"] if c["ChannelName"] == "code")
    # What the stack wrote before: the bundle's S3 URI, which an isolated container cannot download.
    train["HyperParameters"]["sagemaker_submit_directory"] = code["DataSource"]["S3DataSource"]["S3Uri"]
    with pytest.raises(PipelineFailed) as failure:
        run_steps(rehearsal, stack, definition, role, ["Train"])
    assert failure.value.step == "Train"
    log = next((tmp_path / "jobs").glob("*Train/job.log")).read_text()
    assert "s3_download" in log and ("NoCredentialsError" in log or "Could not connect" in log), log[-3000:]


# ---- issue 27: a volume key on an instance with local storage -------------------------------------------------
def test_train_on_g5_starts_without_a_volume_key_and_the_old_request_is_refused_for_botocores_reason(
    cloud, tmp_path, assemblies
):
    """dev trains on ml.g5.xlarge. What SageMaker does before the container starts (validate the request, authorize
    the pipeline role with the request's condition keys, pull the image, open the log stream), for the deployed
    Train step as it is, as the stack wrote it before (with the stage's volume key), and edited to an EBS type."""
    _, _, stack = deploy_dev(cloud, tmp_path, assemblies["dev"])
    definition, role = pipeline_definition(stack)
    context = job_context(cloud, stack, role, tmp_path)
    train = step(definition, "Train")
    execution = Execution.start(definition, execution_id="volume0key", runners={})

    def start(arguments: dict) -> str:
        return api.start_job(
            context,
            execution,
            train,
            arguments,
            operation="CreateTrainingJob",
            resources=arguments["ResourceConfig"],
            image=arguments["AlgorithmSpecification"]["TrainingImage"],
        )

    arguments = execution.value(train["Arguments"])
    assert arguments["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"
    assert "VolumeKmsKeyId" not in arguments["ResourceConfig"]
    assert start(arguments).endswith("-Train")

    before = copy.deepcopy(arguments)
    before["ResourceConfig"]["VolumeKmsKeyId"] = arguments["OutputDataConfig"]["KmsKeyId"]
    with pytest.raises(StepError) as refused:
        start(before)
    assert refused.value.exception_type == "SageMaker.VALIDATION"
    assert "You can't request a VolumeKmsKeyId when using an instance type with local storage." in str(refused.value)

    on_ebs = copy.deepcopy(arguments)  # a definition edited outside the stack: an EBS volume without the stage key
    on_ebs["ResourceConfig"]["InstanceType"] = "ml.m5.xlarge"
    with pytest.raises(AccessDenied) as denied:
        start(on_ebs)
    assert denied.value.action == "sagemaker:CreateTrainingJob"


# ---- the distillation pipeline's other branch: an approved teacher replaces TrainTeacher ----------------
@runs_jobs
def test_a_given_teacher_replaces_train_teacher_and_the_student_is_gated_on_it(
    cloud, tmp_path, assemblies, tiny_model_dir
):
    """What `textclf pipeline start --teacher-package` starts: the Else branch runs for real, its training role
    reads the teacher's model.tar.gz from the artifact bucket, and the gate reports every number. The teacher is
    the tiny BERT (MiniLM's vocabulary): no model reaches the threshold here anyway."""
    options = Options(stage="dev", output=tmp_path, interrupt_at_step=None, train_rows=256)
    rehearsal = Session(cloud, options, Report())
    _, stack = rehearsal.deploy(synth.stack_named(assemblies["dev"], "Dev-Mlops"), ACCOUNT)
    upload_user_data(rehearsal, stack, ACCOUNT)
    bucket = stack.outputs["ArtifactBucketName"]
    teacher = f"s3://{bucket}/training-jobs/approved-teacher/output/model.tar.gz"
    archive = pack_model_dir(tiny_model_dir, tmp_path / "teacher" / "model.tar.gz")
    cloud.admin("s3", ACCOUNT).upload_file(str(archive), bucket, "training-jobs/approved-teacher/output/model.tar.gz")
    _, definition, role = deployed_pipeline(stack, "distillation")
    context = job_context(cloud, stack, role, tmp_path)
    base = f"{stack.outputs['BaseModelUri']}all-minilm-l6-v2/"
    package = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/textclf-dev/7"
    overrides = {
        "TeacherModelDataUrl": teacher,
        "TeacherPackageArn": package,
        "BaseModelUri": base,
        "TeacherBaseModelUri": base,
        "StudentLayers": "0",
        "Epochs": "1",
        "Labels": "negative,positive",
        "AccuracyThreshold": "1.01",
    }  # no model reaches it: the Fail step's message is the point
    execution = Execution.start(
        definition, execution_id="given0teacher", runners=steps.runners(context), overrides=overrides
    )
    with pytest.raises(PipelineFailed) as failure:
        execution.run()
    ran = {record.name: record.status for record in execution.records}
    assert "TrainTeacher" not in ran
    assert ran["DistillFromGivenTeacher"] == ran["EvaluateWithGivenTeacher"] == "Succeeded"
    assert failure.value.step == "RejectedWithGivenTeacher"
    assert "the threshold 1.01" in failure.value.message and "x the teacher's accuracy" in failure.value.message
    gate = execution.property_files["EvaluateWithGivenTeacher"]["Gate"]
    assert gate["metadata"]["teacher_source"] == package and gate["teacher_accuracy"] is not None
    # The job started as the DLC starts it: the PyTorch toolkit, then torchrun (tests/test_training_launcher.py).
    log = next((tmp_path / "jobs").rglob("*DistillFromGivenTeacher/job.log")).read_text()
    assert "Invoking TorchDistributed" in log and "torchrun --nnodes 1 --nproc_per_node 1 training/train.py" in log


# ---- defect 2: listing the code input ----------------------------------------------------------------
def test_evaluate_is_denied_listing_its_code_input_without_the_listbucket_grant(cloud, tmp_path, assemblies):
    rehearsal, _, stack = deploy_dev(cloud, tmp_path, assemblies["dev"])
    upload_user_data(rehearsal, stack, ACCOUNT)
    definition, role = pipeline_definition(stack)
    processing_role = step(definition, "Evaluate")["Arguments"]["RoleArn"]
    assets_bucket = f"arn:aws:s3:::cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"
    record = cloud.directory.role(processing_role)
    for policy in record.policies:
        policy.document = {
            **policy.document,
            "Statement": [
                s
                for s in policy.document["Statement"]
                if not (s["Action"] == "s3:ListBucket" and s["Resource"] == assets_bucket)
            ],
        }
    model = {"Train": {"ModelArtifacts": {"S3ModelArtifacts": stack.outputs["DatasetUri"] + "train/"}}}
    with pytest.raises(PipelineFailed) as failure:
        run_steps(rehearsal, stack, definition, role, ["Evaluate"], properties=model)
    assert failure.value.step == "Evaluate"
    assert "AccessDenied" in failure.value.message and "s3:ListBucket" in failure.value.message
    assert assets_bucket in failure.value.message


# ---- defect 4: the endpoint must wait for its role's policy --------------------------------------------
def register_in(cloud, stack, body: bytes = b"model bytes") -> tuple[str, str]:
    """A package of dev's registry whose model data lies in dev's artifact bucket, as the pipeline leaves it."""
    admin = cloud.admin("sagemaker", ACCOUNT)
    bucket = stack.outputs["ArtifactBucketName"]
    cloud.admin("s3", ACCOUNT).put_object(Bucket=bucket, Key="training-jobs/job/output/model.tar.gz", Body=body)
    arn = admin.create_model_package(
        ModelPackageGroupName="textclf-dev",
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties={"ModelDataSha256": hashlib.sha256(body).hexdigest()},
        InferenceSpecification={
            "Containers": [
                {
                    "Image": INFERENCE_IMAGE,
                    "ModelDataUrl": f"s3://{bucket}/training-jobs/job/output/model.tar.gz",
                    "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
                }
            ],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    return arn, f"s3://{bucket}/training-jobs/job/output/model.tar.gz"


# ---- issue 16: evaluation is network-isolated; the registry lookup is the Baseline function's -------------
def test_the_baseline_step_reads_the_registry_as_its_own_role_and_the_pipeline_may_only_invoke_it(
    cloud, tmp_path, assemblies
):
    """The deployed function, as its role, against the registry: nothing approved, then an approved package whose
    evaluation.json lies under the stage's evaluations prefix. The pipeline role may invoke that function only."""
    _, _, stack = deploy_dev(cloud, tmp_path, assemblies["dev"])
    definition, role = pipeline_definition(stack)
    baseline = step(definition, "Baseline")
    run = steps.lambda_step(job_context(cloud, stack, role, tmp_path))
    first = run(baseline, baseline["Arguments"], None)
    assert first == {"OutputParameters": {"minimum_accuracy": 0.0, "approved_model_package": ""}}

    bucket, key = stack.outputs["ArtifactBucketName"], "evaluations/earlier/Evaluate/evaluation.json"
    report = {"multiclass_classification_metrics": {"accuracy": {"value": 0.91}}}
    cloud.admin("s3", ACCOUNT).put_object(Bucket=bucket, Key=key, Body=json.dumps(report).encode())
    approved = cloud.admin("sagemaker", ACCOUNT).create_model_package(
        ModelPackageGroupName="textclf-dev",
        ModelApprovalStatus="Approved",
        ModelMetrics={
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{bucket}/{key}"}}
        },
    )["ModelPackageArn"]
    outputs = run(baseline, baseline["Arguments"], None)["OutputParameters"]
    assert outputs["approved_model_package"] == approved
    assert outputs["minimum_accuracy"] == pytest.approx(0.91 - baseline["Arguments"]["regression_margin"])

    other = baseline["FunctionArn"].rsplit(":", 1)[0] + ":SomeOtherFunction"
    with pytest.raises(AccessDenied):
        cloud.directory.check(Request(role, "lambda:InvokeFunction", other))
    # It reads as its own role: without the role's registry grant the step fails on the denied call.
    (function,) = [f for f in stack.of_type("AWS::Lambda::Function") if f.attributes["Arn"] == baseline["FunctionArn"]]
    for policy in cloud.directory.role(function.properties["Role"]).policies:
        statements = policy.document["Statement"]
        policy.document = {**policy.document, "Statement": [s for s in statements if "sagemaker:" not in str(s)]}
    with pytest.raises(StepError) as denied:
        run(baseline, baseline["Arguments"], None)
    assert denied.value.exception_type == "Lambda.FUNCTION_ERROR" and "sagemaker:ListModelPackages" in str(denied.value)


@pytest.mark.parametrize(
    "name, edit",
    [
        ("Evaluate", lambda a: a["NetworkConfig"].update(EnableNetworkIsolation=False)),
        ("Evaluate", lambda a: a["NetworkConfig"].pop("EnableInterContainerTrafficEncryption")),
        ("Evaluate", lambda a: a["ProcessingOutputConfig"].pop("KmsKeyId")),
        ("Train", lambda a: a.update(EnableNetworkIsolation=False)),
        ("Train", lambda a: a["OutputDataConfig"].pop("KmsKeyId")),
        ("Train", lambda a: a.update(Tags=[{"Key": "stage", "Value": "prod"}])),
    ],
    ids=[
        "evaluate-network",
        "evaluate-traffic",
        "evaluate-output-key",
        "train-network",
        "train-output-key",
        "train-tag",
    ],
)
def test_a_definition_edited_outside_the_stack_cannot_start_a_weaker_job(cloud, tmp_path, assemblies, name, edit):
    """Finding 9 of issue 16: IAM, not only the definition, requires isolation, the stage's output key and encrypted
    traffic; a pipeline whose definition is changed in the console or by API is refused at Create*Job."""
    rehearsal, _, stack = deploy_dev(cloud, tmp_path, assemblies["dev"])
    definition, role = pipeline_definition(stack)
    edit(step(definition, name)["Arguments"])
    model = {"Train": {"ModelArtifacts": {"S3ModelArtifacts": stack.outputs["DatasetUri"] + "train/"}}}
    with pytest.raises(PipelineFailed) as failure:
        run_steps(rehearsal, stack, definition, role, [name], properties=model)
    assert "AccessDenied" in failure.value.message and f"sagemaker:Create{step(definition, name)['Type']}Job" in (
        failure.value.message
    ), failure.value.message


def without_tag_on_create(template: dict) -> dict:
    """The stage template with the pipeline role's statement of sagemaker:AddTags (alone) dropped."""
    planted = copy.deepcopy(template)
    for resource in planted["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            document = resource["Properties"]["PolicyDocument"]
            document["Statement"] = [s for s in document["Statement"] if s["Action"] != "sagemaker:AddTags"]
    return planted


def test_a_job_with_tags_is_refused_without_addtags_on_it_as_tag_on_create_is(cloud, tmp_path, assemblies):
    """Planted defect (issue 29, tag-on-create): CreateTrainingJob is granted, AddTags on training jobs is not. The
    rehearsal authorized the Create* alone and ran the job; SageMaker authorizes the request's Tags as AddTags
    (the Service Authorization Reference's sagemaker:TaggingAction)."""
    template = synth.stack_named(assemblies["dev"], "Dev-Mlops").template
    rehearsal, _, stack = deploy_dev(cloud, tmp_path, assemblies["dev"], without_tag_on_create(template))
    definition, role = pipeline_definition(stack)
    with pytest.raises(PipelineFailed) as failure:
        run_steps(rehearsal, stack, definition, role, ["Train"])
    message = failure.value.message
    assert "AccessDenied" in message and "sagemaker:AddTags" in message and "training-job/" in message, message


def test_one_stages_pipeline_cannot_see_or_stop_another_stages_jobs_in_the_same_account(cloud, tmp_path, assemblies):
    """Finding 5 of issue 16: job names are generated, so the stage tag on every job tells them apart."""
    _, _, stack = deploy_dev(cloud, tmp_path, assemblies["dev"])
    _, role = pipeline_definition(stack)
    job = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/pipelines-abc123-train-xyz"
    for action in ("sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"):
        cloud.directory.check(Request(role, action, job, context=(("aws:ResourceTag/stage", "dev"),)))
        with pytest.raises(AccessDenied):
            cloud.directory.check(Request(role, action, job, context=(("aws:ResourceTag/stage", "prod"),)))


def test_an_endpoint_created_before_its_role_policy_cannot_read_the_model(cloud, tmp_path, assemblies):
    rehearsal, deployment, stack = deploy_dev(cloud, tmp_path, assemblies["dev"])
    arn, _ = register_in(cloud, stack)
    served = synth.synthesize(tmp_path / "serving", context={"stage": "dev", "model_package_arn": arn})
    template = synth.stack_named(served, "Dev-Mlops").template
    model_id = served_model_id(template)
    assert any("ModelExecutionRoleDefaultPolicy" in d for d in template["Resources"][model_id]["DependsOn"])
    racing = copy.deepcopy(template)
    del racing["Resources"][model_id]["DependsOn"]  # the old template: the model waited for the role only
    with pytest.raises(DeployError, match=r"s3:GetObject .*identity policies \(none\)"):
        deployment.update(racing)
    deployment.stack = stack  # back to the deployed stack, then the template as synthesized now
    served_stack = deployment.update(template)
    # Issue 29, planted on the same serving stack: the operations key without its statement for CloudWatch alarms.
    probes.check_alarm_actions(cloud, served_stack, Report())
    for key in cloud.directory.keys.values():
        key.policy["Statement"] = [s for s in key.policy["Statement"] if "cloudwatch." not in json.dumps(s)]
    with pytest.raises(RehearsalFailed, match=r"cloudwatch\.amazonaws\.com may not kms:GenerateDataKey"):
        probes.check_alarm_actions(cloud, served_stack, Report())


def test_a_realtime_stage_registers_its_scaling_and_only_its_model_role_grant_lets_it_capture(
    cloud, tmp_path, assemblies, served_model_dir
):
    """serving_mode realtime as deployed: the scalable target and its policy registered in Application Auto Scaling
    (moto, through botocore's model), and the endpoint created only where its model role may write captured data.
    Then issue 34's late labels: answers captured as SageMaker captures them, judged by the deployed function against
    labels uploaded later; labels that agree with the answers set off no alarm, flipped ones both quality alarms."""
    rehearsal, deployment, stack = deploy_dev(cloud, tmp_path, assemblies["dev"])
    pack_model_dir(served_model_dir, tmp_path / "model.tar.gz")
    arn, _ = register_in(cloud, stack, (tmp_path / "model.tar.gz").read_bytes())
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context["stages"]["dev"].update(
        serving_mode="realtime", data_capture_percent=100, model_package_arn=arn, retrain_on_quality_alarm=True
    )
    served = synth.synthesize(tmp_path / "realtime", context={"stage": "dev"}, project_context=context)
    template = synth.stack_named(served, "Dev-Mlops").template
    without_grant = copy.deepcopy(template)
    for resource in without_grant["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            statements[:] = [s for s in statements if "/data-capture/*" not in json.dumps(s.get("Resource"))]
    with pytest.raises(DeployError, match=r"s3:PutObject .*/data-capture/textclf-dev/AllTraffic/"):
        deployment.update(without_grant)
    deployment.stack = stack
    rehearsal.deploy(synth.stack_named(served, "Dev-Mlops"), ACCOUNT, onto=deployment)  # its assets published too
    scaling = cloud.admin("application-autoscaling", ACCOUNT)
    (target,) = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (
        "endpoint/textclf-dev/variant/AllTraffic",
        context["stages"]["dev"]["realtime_min_instances"],
        context["stages"]["dev"]["realtime_max_instances"],
    )
    (policy,) = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == context["stages"]["dev"]["realtime_invocations_per_instance"]

    texts = [row["text"] for row in csv.DictReader((ROOT / "data" / "monitoring" / "in_domain.csv").open())]
    with fleet(rehearsal, deployment.stack, "dev") as endpoint:
        outcomes = rehearse_late_labels(cloud, deployment.stack, endpoint, texts, tmp_path / "late-labels")
    agreeing, flipped = outcomes["agreeing labels"], outcomes["flipped labels"]
    assert agreeing.judged == flipped.judged == len(texts)  # every answer captured, at 100%, and labelled
    assert agreeing.figures == {"accuracy": 1.0, "min_class_recall": 1.0, "count": len(texts)} and not agreeing.fired
    assert flipped.figures["accuracy"] == 0.0 and flipped.fired == {"LabelledAccuracy", "LabelledMinClassRecall"}
    # retrain_on_quality_alarm: either quality alarm going into ALARM (CloudWatch's documented state change event)
    # starts the training pipeline, as the pipeline's trigger role.
    served_stack = deployment.stack
    (rule,) = [r for r in served_stack.of_type("AWS::Events::Rule") if r.logical_id.startswith("TrainingPipelineAlarm")]
    fired = [o for o in eventbridge.occurrences(cloud, served_stack) if eventbridge.matches(rule, o.event)]
    assert sorted(o.what.rsplit(":alarm:", 1)[1] for o in fired) == [
        f"{alarm.physical_id} ALARM"
        for alarm in sorted(served_stack.of_type("AWS::CloudWatch::Alarm"), key=lambda a: a.physical_id)
        if alarm.properties["MetricName"] in ("LabelledAccuracy", "LabelledMinClassRecall")
    ]
    (reached,) = eventbridge.deliver(cloud.directory, served_stack, rule, fired[0].event)
    assert reached.endswith(":pipeline/textclf-dev-training")


def test_an_endpoint_whose_role_cannot_write_its_log_group_fails_creation(cloud, tmp_path, assemblies):
    """SageMaker logs to /aws/sagemaker/Endpoints/<endpoint name>; the old grant named the group
    /aws/sagemaker/Endpoints itself, so the endpoint's log (and the worker alarm on it) stayed empty."""
    rehearsal, deployment, stack = deploy_dev(cloud, tmp_path, assemblies["dev"])
    arn, _ = register_in(cloud, stack)
    served = synth.synthesize(tmp_path / "serving", context={"stage": "dev", "model_package_arn": arn})
    template = synth.stack_named(served, "Dev-Mlops").template
    old = copy.deepcopy(template)
    (group_id,) = [
        k for k, r in old["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup" and k.startswith("Serving")
    ]
    (grant,) = [
        statement
        for resource in old["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if statement["Resource"] == {"Fn::GetAtt": [group_id, "Arn"]}
    ]
    grant["Resource"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints:*"
    with pytest.raises(DeployError, match=r"logs:CreateLogStream .*log-group:/aws/sagemaker/Endpoints/textclf-dev:"):
        deployment.update(old)
    deployment.stack = stack
    deployment.update(template)
    (group,) = [g for g in deployment.stack.of_type("AWS::Logs::LogGroup") if g.logical_id == group_id]
    logs = cloud.admin("logs", ACCOUNT, REGION)
    patterns = {
        f["filterPattern"] for f in logs.describe_metric_filters(logGroupName=group.physical_id)["metricFilters"]
    }
    assert patterns == {'"Retry worker"', contract.signal_filter_pattern()}  # worker restarts; the monitor's signals


def test_the_pipelines_batch_step_scores_a_file_with_the_trained_model_as_the_batch_role(
    cloud, tmp_path, assemblies, served_model_dir
):
    """BatchGiven's branch as deployed: the pipeline role creates the model and the transform job (with their
    condition keys, passing the batch role); the job reads the trained model and the file, and writes the answers,
    as the batch role."""
    rehearsal, _, stack = deploy_dev(cloud, tmp_path, assemblies["dev"])
    definition, role = pipeline_definition(stack)
    (given,) = [s for s in step(definition, "CheckAccuracy")["Arguments"]["IfSteps"] if s["Name"] == "BatchGiven"]
    s3 = cloud.admin("s3", ACCOUNT)
    bucket = stack.outputs["ArtifactBucketName"]
    pack_model_dir(served_model_dir, tmp_path / "model.tar.gz")
    s3.upload_file(str(tmp_path / "model.tar.gz"), bucket, "training-jobs/t/output/model.tar.gz")
    texts = ["a wonderful film", "a dull mess", "moving and funny"]
    source = f"{stack.outputs['BatchInputUri']}reviews.jsonl"
    data_bucket, key = split_uri(source)
    s3.put_object(Bucket=data_bucket, Key=key, Body="".join(json.dumps({"inputs": t}) + "\n" for t in texts).encode())
    execution = Execution.start(
        {**definition, "Steps": given["Arguments"]["IfSteps"]},
        execution_id="test0execution",
        runners=steps.runners(job_context(cloud, stack, role, rehearsal.work)),
        overrides={"BatchInputUri": source},
    )
    execution.properties["Train"] = {
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://{bucket}/training-jobs/t/output/model.tar.gz"}
    }
    execution.property_files["Evaluate"] = {"Gate": {"int8_verified": "false"}}
    records = execution.run()
    assert [(r.name, r.status) for r in records] == [("BatchModel", "Succeeded"), ("ScoreBatch", "Succeeded")]
    answers = s3.get_object(Bucket=data_bucket, Key="batch/output/pipeline/test0execution/reviews.jsonl.out")
    assert len(answers["Body"].read().splitlines()) == len(texts)
    assert cloud.directory.denials() == []


@pytest.mark.parametrize(
    ("name", "edit", "action"),
    [
        ("BatchModel", lambda a: a.update(EnableNetworkIsolation=False), "sagemaker:CreateModel"),
        ("BatchModel", lambda a: a.update(Tags=[{"Key": "stage", "Value": "prod"}]), "sagemaker:CreateModel"),
        ("ScoreBatch", lambda a: a["TransformOutput"].pop("KmsKeyId"), "sagemaker:CreateTransformJob"),
    ],
    ids=["model-network", "model-tag", "transform-output-key"],
)
def test_an_edited_batch_step_cannot_create_a_weaker_model_or_job(cloud, tmp_path, assemblies, name, edit, action):
    rehearsal, _, stack = deploy_dev(cloud, tmp_path, assemblies["dev"])
    definition, role = pipeline_definition(stack)
    (given,) = [s for s in step(definition, "CheckAccuracy")["Arguments"]["IfSteps"] if s["Name"] == "BatchGiven"]
    (edited,) = [s for s in given["Arguments"]["IfSteps"] if s["Name"] == name]
    edit(edited["Arguments"])
    execution = Execution.start(
        {**definition, "Steps": [edited]},
        execution_id="test0execution",
        runners=steps.runners(job_context(cloud, stack, role, rehearsal.work)),
        overrides={"BatchInputUri": f"{stack.outputs['BatchInputUri']}x.jsonl"},
    )
    execution.properties["Train"] = {"ModelArtifacts": {"S3ModelArtifacts": "s3://any/model.tar.gz"}}
    execution.properties["BatchModel"] = {"ModelName": "pipelines-test0execution-BatchModel"}
    execution.property_files["Evaluate"] = {"Gate": {"int8_verified": "false"}}
    with pytest.raises(PipelineFailed) as failure:
        execution.run()
    assert "AccessDenied" in failure.value.message and action in failure.value.message, failure.value.message


# ---- defect 5: dev can be destroyed and deployed again ----------------------------------------------------
def test_dev_deploys_again_after_destroy_but_a_retained_named_group_would_block_it(cloud, tmp_path, assemblies):
    rehearsal, deployment, _ = deploy_dev(cloud, tmp_path, assemblies["dev"])
    template = synth.stack_named(assemblies["dev"], "Dev-Mlops").template
    assert deployment.delete() == []
    rehearsal.deployment(ACCOUNT).create("Dev-Mlops", template)

    retained = copy.deepcopy(template)
    group = next(r for r in retained["Resources"].values() if r["Type"] == "AWS::SageMaker::ModelPackageGroup")
    group["DeletionPolicy"] = group["UpdateReplacePolicy"] = "Retain"  # the old template
    with Cloud() as fresh:
        old = rehearsal_in(fresh, tmp_path / "old").deployment(ACCOUNT)
        old.create("Dev-Mlops", retained)
        assert old.delete() == [next(k for k, r in retained["Resources"].items() if r is group)]
        with pytest.raises(DeployError, match="already exists"):
            rehearsal_in(fresh, tmp_path / "old").deployment(ACCOUNT).create("Dev-Mlops", retained)


# ---- defect 3: staging and prod serve a copy they own -----------------------------------------------------
def test_staging_serves_its_own_verified_copy_which_no_dev_role_can_touch(cloud, tmp_path, assemblies):
    rehearsal, _, dev = deploy_dev(cloud, tmp_path, assemblies["dev"])
    arn, source = register_in(cloud, dev)
    release = _write(
        tmp_path / "release.json",
        {
            "model_package_arn": arn,
            "model_data_url": source,
            "model_data_sha256": hashlib.sha256(b"model bytes").hexdigest(),
            "image": INFERENCE_IMAGE,
            "environment": {"SAGEMAKER_PROGRAM": "inference.py"},
        },
    )
    staging_assembly = synth.synthesize(tmp_path / "staging", context={"stage": "staging", "release": str(release)})
    artifact = synth.stack_named(staging_assembly, "Staging-Mlops")

    # Released: the copy resource verifies the bytes into staging's own bucket, and the endpoint reads that copy.
    _, staging = rehearsal.deploy(artifact, ACCOUNT)
    copied = next(r for r in staging.resources.values() if r.type == "Custom::ReleasedModel")
    bucket, key = split_uri(copied.attributes["ModelDataUrl"])
    assert bucket == staging.outputs["ArtifactBucketName"] and key.startswith("released-models/")
    assert cloud.admin("s3", ACCOUNT).get_object(Bucket=bucket, Key=key)["Body"].read() == b"model bytes"
    training_role = step(pipeline_definition(dev)[0], "Train")["Arguments"]["RoleArn"]
    for action in ("s3:PutObject", "s3:DeleteObject"):
        with pytest.raises(AccessDenied):
            cloud.directory.check(Request(training_role, action, f"arn:aws:s3:::{bucket}/{key}", ACCOUNT))
    # Issue 30: the copy role reads dev's training outputs, and nothing else the account holds (dev's captured
    # requests, its datasets, its released copies).
    copy_role = next(
        r.attributes["Arn"] for r in staging.of_type("AWS::IAM::Role") if "-release-copy/" in r.attributes["Arn"]
    )
    dev_bucket, dev_datasets = dev.outputs["ArtifactBucketName"], split_uri(dev.outputs["DatasetUri"])[0]
    in_account = (("s3:ResourceAccount", ACCOUNT),)  # as the gateway decides an S3 request
    source_object = "/".join(split_uri(source))
    cloud.directory.check(Request(copy_role, "s3:GetObject", f"arn:aws:s3:::{source_object}", ACCOUNT, in_account))
    for elsewhere in (
        f"{dev_datasets}/data-capture/x.jsonl",
        f"{dev_datasets}/datasets/train.jsonl",
        f"{dev_bucket}/released-models/x",
    ):
        with pytest.raises(AccessDenied):
            cloud.directory.check(Request(copy_role, "s3:GetObject", f"arn:aws:s3:::{elsewhere}", ACCOUNT, in_account))

    # Served in place, as before (in a fresh cloud): staging's model role cannot read dev's bucket, so its
    # endpoint never starts.
    in_place = copy.deepcopy(artifact.template)
    model = in_place["Resources"][served_model_id(in_place)]
    model["Properties"]["PrimaryContainer"] = {"ModelPackageName": arn}
    with Cloud() as other:
        other_rehearsal = rehearsal_in(other, tmp_path / "in-place")
        _, dev_again = other_rehearsal.deploy(synth.stack_named(assemblies["dev"], "Dev-Mlops"), ACCOUNT)
        register_in(other, dev_again)
        bad = synth.StackArtifact(
            artifact.name,
            _write(tmp_path / "in-place.json", in_place),
            artifact.assets_path,
            artifact.account,
            artifact.region,
        )
        with pytest.raises(RehearsalFailed, match=r"may not s3:GetObject on arn:aws:s3:::textclf-dev-models-"):
            other_rehearsal.deploy(bad, ACCOUNT)


def test_a_copy_whose_bytes_differ_from_the_evaluated_digest_fails_the_deployment(cloud, tmp_path, assemblies):
    rehearsal, _, dev = deploy_dev(cloud, tmp_path, assemblies["dev"])
    arn, source = register_in(cloud, dev, body=b"bytes changed after evaluation")
    release = _write(
        tmp_path / "release.json",
        {
            "model_package_arn": arn,
            "model_data_url": source,
            "model_data_sha256": hashlib.sha256(b"evaluated").hexdigest(),
            "image": INFERENCE_IMAGE,
            "environment": {},
        },
    )
    artifact = synth.stack_named(
        synth.synthesize(tmp_path / "staging", context={"stage": "staging", "release": str(release)}), "Staging-Mlops"
    )
    with pytest.raises(RehearsalFailed, match="changed after evaluation"):
        rehearsal.deploy(artifact, ACCOUNT)


# ---- end to end, as `make run` runs it -------------------------------------------------------------------
def rehearse(tmp_path: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "rehearse", "--output", str(tmp_path / "out"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.end_to_end
@runs_jobs
def test_dev_distills_on_two_instances_through_a_spot_interruption_registers_the_student_and_deploys_again(tmp_path):
    """The distillation pipeline as deployed: teacher, then a 3-layer student of it; the fine-tune pipeline runs
    in the delivery rehearsals below. Both jobs run on two instances (issue 33): two hosts, each its own /opt/ml,
    network namespace and CPU, on a private link, started by the DLC's toolkit under torchrun --nnodes 2. Half the
    sample at twice the global batch: the teacher for one epoch (31 steps), the student for two (62 steps, as one
    instance takes for one epoch) with algo-2 reclaimed at step 40+; the gate's floors leave the student room (the
    delivery rehearsal and `make run` keep the stages' own floors for the fine-tune pipeline)."""
    output = rehearse(
        tmp_path,
        *("--stage", "dev", "--pipeline", "distillation", "--redeploy", "--train-rows", "2000"),
        *("--param", "AccuracyThreshold=0.7", "--param", "MinTeacherRatio=0.9", "--param", "TrainingInstanceCount=2"),
        *("--param", "TeacherEpochs=1", "--param", "Epochs=2"),
    )
    for expected in (
        "channel train on algo-2: 1 object(s)",
        "runtime: world_size=2",
        " on algo-2, the instance reclaimed in 120 s",
        "restart on fresh instances, each with a fresh /opt/ml (2)",
        "checkpoints on algo-2: 2 file(s) restored",
        "resume: step=",
        "succeeded step TeacherGiven [Condition]",
        "succeeded step TrainTeacher [Training]",
        "channel teacher on algo-1: 1 object(s)",
        "succeeded step DistillStudent [Training]",
        "succeeded step EvaluateStudent [Processing]",
        "succeeded step RegisterStudent [RegisterModel]",
        "destroy + redeploy Dev-Mlops",
        '"TEXTCLF_INT8_VERIFIED": "',
        '"TeacherAccuracy": "',
        '"TeacherModelDataUrl": "s3://',
        "smoke test (6 cases x 3)",
        "ok        worker alarm's metric filter",
    ):
        assert expected in output, expected
    assert output.count("spot interruption injected") == 1
    # Metrics are logged once, by rank 0 on the leader: one line per step logged, not one per host.
    assert output.count("train: step=31 ") == output.count("train: step=62 ") == 1, "one line per job"
    assert output.rstrip().splitlines()[-1].startswith("rehearsal dev (single): PASSED")
    assert " 0 denied" in output.splitlines()[-1]


@pytest.mark.end_to_end
@runs_jobs
def test_delivery_promotes_to_staging_and_prod_each_in_its_own_account(tmp_path):
    """The accounts layout: every cross-account grant is exercised. `make run` rehearses the single-account
    layout, with the whole sample and the stages' own floors; here half the sample trains dev's model (about
    0.79 accurate) under a floor of 0.7, since this run is about the grants, and CI has 15 minutes."""
    layout = "accounts"
    output = rehearse(
        tmp_path,
        *("--stage", "delivery", "--layout", layout, "--interrupt-at-step", "0", "--train-rows", "2000"),
        *("--param", "AccuracyThreshold=0.7"),
    )
    for stage in ("staging", "prod"):
        assert f"{stage}: smoke role may invoke the endpoint" in output
    assert output.count("ok        model role reads the model data") == 2
    assert output.count("ok        worker alarm's metric filter") == 2
    assert "ok        ResolveRelease" in output
    # Issue 32: staging's canary, on two model servers; each bad release rolled back by the alarm that sees it.
    assert "ok        staging: blue/green update" in output
    assert "25% to the new fleet, baked 5 min; 100% to the new fleet, baked 5 min; requests" in output
    assert "ok        good release: completed" in output
    for bad in ("failing", "wrong"):
        (line,) = [line for line in output.splitlines() if line.startswith(f"   ok        {bad} release: rolled back")]
        assert "serves endpoint config textclf-staging-" in line and "ProbeAgreementAlarm" in line, line
    assert output.count("ROLLED BACK") == 2
    # Issue 44: the good release goes on to prod, whose linear policy shifts it on two model servers too.
    assert "ok        prod: blue/green update" in output
    assert "20% to the new fleet, baked 5 min; 40% to the new fleet, baked 5 min;" in output
    assert "ok        good release on prod: completed" in output
    # Issue 34: prod's drift monitor, fed through the served model and run as deployed: no alarm on unseen sentences
    # like the test set's, the class-mix alarm on one-sided ones, the length and confidence alarms on news.
    monitored = {
        stream: next(line for line in output.splitlines() if line.startswith(f"   ok        {stream}"))
        for stream in ("in-domain sentences", "one-sided sentences", "out-of-domain news")
    }
    assert monitored["in-domain sentences"].endswith("alarms: none")
    assert monitored["one-sided sentences"].endswith("alarms: ClassMixDrift")
    assert "ConfidenceDrop, LengthDrift" in monitored["out-of-domain news"]
    assert all("200 signal lines" in line for line in monitored.values())
    assert output.rstrip().splitlines()[-1].startswith(f"rehearsal delivery ({layout}): PASSED")
    # Issue 47: `make run` ends with the command that serves prod's model; the file it names is what prod served.
    served = local_run.served_model(tmp_path / "out")
    assert served is not None and served.parent.name.startswith("model-textclf-prod-") and tarfile.is_tarfile(served)


def test_a_param_that_is_not_name_value_is_refused_before_anything_runs(capsys):
    from cli.main import main

    assert main(["rehearse", "--param", "Epochs"]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err


def served_model_id(template: dict) -> str:
    """The endpoint's model; the stack also holds batch scoring's."""
    return next(
        k for k, r in template["Resources"].items() if r["Type"] == "AWS::SageMaker::Model" and k.startswith("Serving")
    )


# ---- issue 29: what the services do with the operations key, and EventBridge's documented events ------------------
def without_key_statements_for(template: dict, service: str) -> dict:
    """The template with every key policy statement whose principal names ``service`` dropped."""
    planted = copy.deepcopy(template)
    for resource in planted["Resources"].values():
        if resource["Type"] == "AWS::KMS::Key":
            policy = resource["Properties"]["KeyPolicy"]
            policy["Statement"] = [s for s in policy["Statement"] if service not in json.dumps(s.get("Principal"))]
    return planted


@pytest.fixture(scope="module")
def dev_with_data(assemblies, tmp_path_factory):
    """Dev deployed once, with the dataset manifest uploaded: what the event tests match rules against."""
    with Cloud() as cloud:
        rehearsal, _, stack = deploy_dev(cloud, tmp_path_factory.mktemp("dev-events"), assemblies["dev"])
        bucket, prefix = split_uri(stack.outputs["DatasetUri"])
        cloud.admin("s3", ACCOUNT, REGION).put_object(Bucket=bucket, Key=f"{prefix}manifest.json", Body=b"{}")
        yield cloud, stack


def with_event_pattern(stack, rule_prefix: str, edit):
    """A copy of the deployed stack whose rule ``rule_prefix…`` has its (resolved) pattern edited."""
    planted = copy.deepcopy(stack)
    rule = next(r for r in planted.of_type("AWS::Events::Rule") if r.logical_id.startswith(rule_prefix))
    edit(rule.properties["EventPattern"])
    return planted


def test_a_log_group_under_a_key_that_does_not_admit_cloudwatch_logs_fails_creation(cloud, tmp_path, assemblies):
    """Planted defect: the operations key's statement for logs.<region>.amazonaws.com dropped. The rehearsal created
    the log group regardless; CloudWatch Logs refuses a key it may not use (decided by the key policy alone)."""
    template = synth.stack_named(assemblies["dev"], "Dev-Mlops").template
    with pytest.raises(RehearsalFailed) as failure:
        deploy_dev(cloud, tmp_path, assemblies["dev"], without_key_statements_for(template, "logs."))
    message = str(failure.value)
    assert "(AWS::Logs::LogGroup): CREATE_FAILED" in message and f"logs.{REGION}.amazonaws.com" in message, message


def test_every_deployed_rule_fires_on_a_documented_event_and_reaches_its_targets(dev_with_data):
    cloud, stack = dev_with_data
    lines = eventbridge.check_rules(cloud, [stack])
    assert len(lines) == len([r for r in stack.of_type("AWS::Events::Rule") if r.properties.get("EventPattern")])


@pytest.mark.parametrize(
    "rule, edit",
    [
        ("PipelineAlertsExecution", lambda p: p.update({"detail-type": ["SageMaker Pipeline Execution Status"]})),
        ("PipelineAlertsStep", lambda p: p["detail"].update(stepStatus=p["detail"].pop("currentStepStatus"))),
        ("RegistryPackageStateChange", lambda p: p["detail"].update(ModelPackageGroupName=["textclf-Dev"])),
    ],
    ids=["wrong-detail-type", "wrong-field-name", "wrong-group-name"],
)
def test_a_rule_that_matches_no_documented_event_fails_the_rehearsal(dev_with_data, rule, edit):
    """Planted defects: the rehearsal never matched rules before; each of these would never fire on AWS."""
    cloud, stack = dev_with_data
    with pytest.raises(eventbridge.RuleNeverFires, match=rf"Dev-Mlops/{rule}\w* \(AWS::Events::Rule\) matches none"):
        eventbridge.check_rules(cloud, [with_event_pattern(stack, rule, edit)])


def test_a_topic_key_that_does_not_admit_eventbridge_cannot_deliver_the_alert(dev_with_data):
    """Planted defect: the key policy's statement for events.amazonaws.com dropped; the alert is never published."""
    cloud, stack = dev_with_data
    policies = {arn: copy.deepcopy(key.policy) for arn, key in cloud.directory.keys.items()}
    try:
        for key in cloud.directory.keys.values():
            key.policy["Statement"] = [s for s in key.policy["Statement"] if EVENTS not in json.dumps(s)]
        with pytest.raises(eventbridge.UndeliverableEvent, match="events.amazonaws.com may not kms:GenerateDataKey"):
            eventbridge.check_rules(cloud, [stack])
    finally:
        for arn, policy in policies.items():
            cloud.directory.keys[arn].policy.clear()
            cloud.directory.keys[arn].policy.update(policy)


def test_a_template_cloudformation_refuses_fails_on_cfn_lint_before_anything_is_created(cloud, tmp_path, assemblies):
    """Planted defect: a misspelt property (EnableKeyRotaton). The engine ignored the properties it did not read,
    so the key deployed without rotation; CloudFormation refuses the template, and `rehearse` runs cfn-lint's
    errors on what it deploys."""
    template = copy.deepcopy(synth.stack_named(assemblies["dev"], "Dev-Mlops").template)
    key = next(r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key")
    key["Properties"]["EnableKeyRotaton"] = key["Properties"].pop("EnableKeyRotation")
    with pytest.raises(RehearsalFailed, match=r"cfn-lint on Dev-Mlops: E\d+ .*EnableKeyRotaton"):
        deploy_dev(cloud, tmp_path, assemblies["dev"], template)


def test_a_fault_the_rehearsal_has_no_rule_for_ends_in_the_one_failed_line(tmp_path, monkeypatch, capsys):
    """An upload error, or any fault of the rehearsal itself, is a verdict with its step and a fix; the trace goes
    to a file, not the console."""

    def failing_upload(session, name):
        session.report.step("Upload sample data")
        raise ClientError({"Error": {"Code": "NoSuchBucket", "Message": "no such bucket"}}, "PutObject")

    monkeypatch.setattr(command, "rehearse_stage", failing_upload)
    outcome = command.rehearse(Options(stage="dev", output=tmp_path / "out", interrupt_at_step=None))
    printed = capsys.readouterr().out
    assert not outcome.passed and "Traceback" not in printed
    assert outcome.summary.startswith("rehearsal dev (single): FAILED: Upload sample data: ClientError: An error")
    assert "Fix:" in outcome.summary and (tmp_path / "out" / "traceback.txt").read_text().startswith("Traceback")
