"""A training job as SageMaker runs it: channels in, the DLC's entry runner in the job's own /opt/ml, checkpoints
synced, a spot interruption injected and resumed, model.tar.gz out."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from rehearsal.sagemaker.api import job_step
from rehearsal.sagemaker.channels import download_prefix, pack_model_dir, split_uri
from rehearsal.sagemaker.checkpoints import CheckpointSync, SpotNotice
from rehearsal.sagemaker.containers import container_env, run_container
from rehearsal.sagemaker.context import JobContext, StepRunner
from rehearsal.sagemaker.pipelines import StepError

TRAIN_ENTRY = "from sagemaker_training.cli.train import main; main()"
# The module the DLC's `train` runs, from the image's own ENV (aws/deep-learning-containers,
# pytorch/training/docker/2.8/py3/cu129/Dockerfile.gpu, the sagemaker stage the HF training DLC builds on): the
# PyTorch toolkit, which starts the program under torchrun when sagemaker_torch_distributed_enabled is set.
DLC_TRAINING_MODULE = "sagemaker_pytorch_container.training:main"
RESUMED = "resume: step="  # what train.py logs when it restores a checkpoint
INSTANCE_GROUP = "homogeneousCluster"  # SageMaker's name for the one group of a job without instance groups


def training_step(context: JobContext) -> StepRunner:
    return job_step(
        context,
        "CreateTrainingJob",
        ("ResourceConfig",),
        ("AlgorithmSpecification", "TrainingImage"),
        lambda job_name, _step, arguments, _execution: TrainingJob(context, job_name, arguments).run(),
    )


class TrainingJob:
    def __init__(self, context: JobContext, name: str, arguments: dict) -> None:
        self.context, self.name, self.arguments = context, name, arguments
        self.role = arguments["RoleArn"]
        self.s3 = context.cloud.as_role("s3", self.role, context.region)
        self.isolated = bool(arguments.get("EnableNetworkIsolation"))
        self.checkpoint = arguments.get("CheckpointConfig")
        self.folder = context.workdir / name
        self.attempt = 0
        self.interrupted_in: int | None = None
        self.notice: SpotNotice | None = None

    def _sync(self, root: Path) -> CheckpointSync | None:
        """SageMaker's checkpoint sync, for the whole attempt (rehearsal.sagemaker.checkpoints)."""
        if not self.checkpoint:
            return None
        return CheckpointSync(self.s3, root / "checkpoints", self.checkpoint["S3Uri"]).start()

    def run(self) -> dict:
        while True:
            self.attempt += 1
            root = self._prepare()
            sync = self._sync(root)
            code = self._start(root)
            reclaimed = self.notice is not None and self.notice.reclaimed
            if self.notice is not None:
                self.notice.settle()
            if sync is not None:
                # A job that exits within its notice leaves the instance to the sync until then; a reclaimed one
                # takes with it what the sync had not written yet.
                sync.stop(last_pass=not reclaimed)
            if code == 0 and not reclaimed:
                break
            if self.interrupted_in == self.attempt:
                self.notice = None
                gone = "reclaimed with the job still running" if reclaimed else f"the job exited ({code})"
                self.context.log(f"        spot interruption: {gone}; restart on a fresh /opt/ml ({self.attempt + 1})")
                continue
            failure = root / "output" / "failure"
            reason = failure.read_text().strip()[-2000:] if failure.exists() else f"exit code {code}"
            raise StepError("SageMaker.JOB_FAILED", f"AlgorithmError: {reason} (log: {self.folder}/job.log)")
        return {"TrainingJobName": self.name, "ModelArtifacts": {"S3ModelArtifacts": self._upload_model(root)}}

    def _prepare(self) -> Path:
        root = self.folder / f"attempt-{self.attempt}" / "opt-ml"
        config = root / "input" / "config"
        for folder in (config, root / "model", root / "output" / "data", root / "checkpoints", root / "code"):
            folder.mkdir(parents=True, exist_ok=True)
        channels = {}
        for channel in self.arguments.get("InputDataConfig", []):
            source = channel["DataSource"]["S3DataSource"]
            count = download_prefix(self.s3, source["S3Uri"], root / "input" / "data" / channel["ChannelName"])
            channels[channel["ChannelName"]] = {
                "TrainingInputMode": self.arguments["AlgorithmSpecification"].get("TrainingInputMode", "File"),
                "S3DistributionType": source.get("S3DataDistributionType"),
                "RecordWrapperType": "None",
            }
            self.context.log(f"        channel {channel['ChannelName']}: {count} object(s) from {source['S3Uri']}")
        if self.checkpoint:
            restored = download_prefix(self.s3, self.checkpoint["S3Uri"], root / "checkpoints")
            if restored:
                self.context.log(f"        checkpoints: {restored} file(s) restored from {self.checkpoint['S3Uri']}")
        (config / "hyperparameters.json").write_text(json.dumps(self.arguments.get("HyperParameters", {})))
        (config / "inputdataconfig.json").write_text(json.dumps(channels))
        (config / "resourceconfig.json").write_text(json.dumps(self._resource_config()))
        return root

    def _resource_config(self) -> dict:
        """/opt/ml/input/config/resourceconfig.json as SageMaker writes it for one instance (SageMaker Developer
        Guide, "Distributed Training Configuration"); the toolkit reads the group to pick its launcher."""
        instance_type = self.arguments["ResourceConfig"]["InstanceType"]
        return {
            "current_host": "algo-1",
            "current_instance_type": instance_type,
            "current_group_name": INSTANCE_GROUP,
            "hosts": ["algo-1"],
            "instance_groups": [
                {"instance_group_name": INSTANCE_GROUP, "instance_type": instance_type, "hosts": ["algo-1"]}
            ],
            "network_interface_name": "lo",
        }

    def _start(self, root: Path) -> int:
        job = {"TRAINING_JOB_NAME": self.name, "SAGEMAKER_TRAINING_MODULE": DLC_TRAINING_MODULE}
        env = container_env(
            self.context, {**self.arguments.get("Environment", {}), **job}, None if self.isolated else self.role
        )
        return run_container(
            self.context,
            root,
            [self.context.python, "-c", TRAIN_ENTRY],
            env,
            isolated=self.isolated,
            log_file=self.folder / "job.log",
            watch=self._watch,
        )

    def _watch(self, line: str, process: subprocess.Popen) -> None:
        interruption = self.context.interruption
        if interruption and self.interrupted_in and line.startswith(RESUMED):
            interruption.resumed[self.name] = int(line.removeprefix(RESUMED).split()[0])
        # One interruption per execution: the first job to reach the step is reclaimed, once.
        if not interruption or interruption.happened or not line.startswith("train: step="):
            return
        if int(line.split("=", 1)[1].split()[0]) >= interruption.at_step:
            interruption.happened.append(self.name)
            self.interrupted_in = self.attempt
            self.context.log(
                f"        spot interruption injected: SIGTERM at {line.split()[1]}, "
                f"the instance reclaimed in {interruption.notice_seconds:g} s"
            )
            self.notice = SpotNotice(process, interruption.notice_seconds)

    def _upload_model(self, root: Path) -> str:
        archive = pack_model_dir(root / "model", self.folder / "model.tar.gz")
        bucket, prefix = split_uri(self.arguments["OutputDataConfig"]["S3OutputPath"])
        key = f"{prefix.rstrip('/')}/{self.name}/output/model.tar.gz".lstrip("/")
        self.s3.upload_file(str(archive), bucket, key)
        return f"s3://{bucket}/{key}"
