"""A training job as SageMaker runs it: on each of its instances (algo-1..algo-N), channels in (whole or a shard),
the DLC's entry runner in the host's own /opt/ml, checkpoints synced from every host, a spot interruption of one host
injected and the whole job resumed, the leader's model.tar.gz out."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from rehearsal.sagemaker.api import job_step
from rehearsal.sagemaker.channels import download_prefix, pack_model_dir, split_uri
from rehearsal.sagemaker.checkpoints import CheckpointSync, SpotNotice, checkpoint_files
from rehearsal.sagemaker.containers import Watch, container_env, run_hosts
from rehearsal.sagemaker.context import JobContext, StepRunner
from rehearsal.sagemaker.network import HOST_INTERFACE
from rehearsal.sagemaker.pipelines import StepError
from training import contract

TRAIN_ENTRY = "from sagemaker_training.cli.train import main; main()"
# The module the DLC's `train` runs, from the image's own ENV (aws/deep-learning-containers,
# pytorch/training/docker/2.8/py3/cu129/Dockerfile.gpu, the sagemaker stage the HF training DLC builds on): the
# PyTorch toolkit, which starts the program under torchrun when sagemaker_torch_distributed_enabled is set.
DLC_TRAINING_MODULE = "sagemaker_pytorch_container.training:main"
RESUMED = "resume: step="  # what train.py logs when it restores a checkpoint
INSTANCE_GROUP = "homogeneousCluster"  # SageMaker's name for the one group of a job without instance groups
LEADER = 0  # algo-1: the host whose /opt/ml/model SageMaker uploads
TRAINING_CODE = Path(__file__).resolve().parents[2] / "training"


def resource_config(hosts: list[str], index: int, instance_type: str, *, linked: bool) -> dict:
    """/opt/ml/input/config/resourceconfig.json as SageMaker writes it on host ``index`` (SageMaker Developer
    Guide, "Distributed Training Configuration"); the toolkit reads the group to pick its launcher, and the hosts,
    sorted, for torchrun's node ranks and its master (the first)."""
    group = {"instance_group_name": INSTANCE_GROUP, "instance_type": instance_type, "hosts": hosts}
    return {
        "current_host": hosts[index],
        "current_instance_type": instance_type,
        "current_group_name": INSTANCE_GROUP,
        "hosts": hosts,
        "instance_groups": [group],
        "network_interface_name": HOST_INTERFACE if linked else "lo",
    }


def host_root(root: Path, *, hyperparameters: dict, channels: dict, resources: dict) -> Path:
    """A host's /opt/ml with its folders and its three config files, as the container finds them."""
    config = root / "input" / "config"
    for folder in (config, root / "model", root / "output" / "data", root / "checkpoints", root / "code"):
        folder.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "inputdataconfig.json").write_text(json.dumps(channels))
    (config / "resourceconfig.json").write_text(json.dumps(resources))
    return root


def local_hosts(base: Path, *, count: int, channels: dict[str, Path], hyperparameters: dict) -> list[Path]:
    """The hosts of a script-mode job whose channels are local folders (tests, benchmarks): each host gets all of
    every channel (FullyReplicated), training/ as the code channel's bundle, and the config files."""
    base.mkdir(parents=True, exist_ok=True)
    bundle = base / "sourcedir.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        tar.add(TRAINING_CODE, arcname="training", filter=lambda i: None if "__pycache__" in i.name else i)
    script = {
        "sagemaker_program": contract.TRAINING_PROGRAM,
        "sagemaker_submit_directory": f"{contract.CHANNEL_ROOT}/{contract.CODE}/{bundle.name}",
        "sagemaker_torch_distributed_enabled": "true",
    }
    hosts = [f"algo-{i}" for i in range(1, count + 1)]
    roots = []
    for index, host in enumerate(hosts):
        root = base / host / "opt-ml"
        for name, folder in channels.items():
            shutil.copytree(folder, root / "input" / "data" / name)
        (root / "input" / "data" / contract.CODE).mkdir(parents=True)
        shutil.copy(bundle, root / "input" / "data" / contract.CODE)
        modes = {name: {"TrainingInputMode": "File"} for name in [*channels, contract.CODE]}
        resources = resource_config(hosts, index, "ml.g5.xlarge", linked=count > 1)
        roots.append(
            host_root(root, hyperparameters={**script, **hyperparameters}, channels=modes, resources=resources)
        )
    return roots


def run_local_hosts(
    roots: list[Path], *, watch: Watch | None = None, pin_cpus: bool = False
) -> tuple[list[int], list[str]]:
    """Run the isolated job local_hosts laid out, as the DLC launches it, with no cloud behind it (tests,
    benchmarks); each host's exit code and log."""
    base = roots[0].parent.parent
    context = JobContext(cloud=None, account="1", region="us-east-1", pipeline_role="", workdir=base)  # type: ignore[arg-type]
    env = container_env(context, {"SAGEMAKER_TRAINING_MODULE": DLC_TRAINING_MODULE, "HF_HUB_OFFLINE": "1"}, None)
    logs = [root.parent / "job.log" for root in roots]
    codes = run_hosts(
        context,
        roots,
        [sys.executable, "-c", TRAIN_ENTRY],
        env,
        isolated=True,
        log_files=logs,
        watch=watch,
        pin_cpus=pin_cpus,
    )
    return codes, [log.read_text() for log in logs]


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

    def _sync(self, roots: list[Path], restored: list[dict]) -> list[CheckpointSync]:
        """SageMaker's checkpoint sync from every host, for the whole attempt (rehearsal.sagemaker.checkpoints)."""
        if not self.checkpoint:
            return []
        return [
            CheckpointSync(self.s3, root / "checkpoints", self.checkpoint["S3Uri"], restored=files).start()
            for root, files in zip(roots, restored, strict=True)
        ]

    @property
    def hosts(self) -> list[str]:
        return [f"algo-{i}" for i in range(1, int(self.arguments["ResourceConfig"]["InstanceCount"]) + 1)]

    def run(self) -> dict:
        while True:
            self.attempt += 1
            roots, restored = zip(*(self._prepare(index) for index in range(len(self.hosts))), strict=True)
            syncs = self._sync(list(roots), list(restored))
            codes = self._start(list(roots))
            reclaimed = self.notice is not None and self.notice.reclaimed
            if self.notice is not None:
                self.notice.settle()
            for sync in syncs:
                # A job that exits within its notice leaves the instances to the sync until then; a reclaimed one
                # takes with it what the sync had not written yet.
                sync.stop(last_pass=not reclaimed)
            if not any(codes) and not reclaimed:
                break
            if self.interrupted_in == self.attempt:
                self.notice = None
                gone = "reclaimed with the job still running" if reclaimed else f"the job exited ({max(codes)})"
                self.context.log(
                    f"        spot interruption: {gone}; restart on fresh instances, each with a fresh /opt/ml "
                    f"({self.attempt + 1})"
                )
                continue
            raise StepError("SageMaker.JOB_FAILED", f"AlgorithmError: {self._failure(list(roots), codes)}")
        return {"TrainingJobName": self.name, "ModelArtifacts": {"S3ModelArtifacts": self._upload_model(roots[LEADER])}}

    def _failure(self, roots: list[Path], codes: list[int]) -> str:
        """One host's reason, as SageMaker's FailureReason gives one: the first host that wrote why it failed
        (a host stopped because a peer failed writes nothing), else the first that failed."""
        failed = [index for index, code in enumerate(codes) if code]
        assert failed, "called for a job that failed"
        written = [index for index in failed if (roots[index] / "output" / "failure").exists()]
        index = (written or failed)[0]
        failure = roots[index] / "output" / "failure"
        reason = failure.read_text().strip()[-2000:] if failure.exists() else f"exit code {codes[index]}"
        return f"{reason} (log: {self._log_file(index)})"

    def _log_file(self, index: int) -> Path:
        return self.folder / ("job.log" if index == LEADER else f"job-{self.hosts[index]}.log")

    def _prepare(self, index: int) -> tuple[Path, dict]:
        """Host ``index``'s /opt/ml, and the checkpoint files restored into it (name -> signature)."""
        several = len(self.hosts) > 1
        root = self.folder / f"attempt-{self.attempt}" / (self.hosts[index] if several else "") / "opt-ml"
        on = f" on {self.hosts[index]}" if several else ""
        channels = {}
        for channel in self.arguments.get("InputDataConfig", []):
            source = channel["DataSource"]["S3DataSource"]
            distribution = source.get("S3DataDistributionType", "FullyReplicated")
            shard = (index, len(self.hosts)) if distribution == "ShardedByS3Key" else None
            target = root / "input" / "data" / channel["ChannelName"]
            count = download_prefix(self.s3, source["S3Uri"], target, shard=shard)
            channels[channel["ChannelName"]] = {
                "TrainingInputMode": channel.get("InputMode")
                or self.arguments["AlgorithmSpecification"].get("TrainingInputMode", "File"),
                "S3DistributionType": distribution,
                "RecordWrapperType": "None",
            }
            self.context.log(f"        channel {channel['ChannelName']}{on}: {count} object(s) from {source['S3Uri']}")
        restored = {}
        if self.checkpoint:
            download_prefix(self.s3, self.checkpoint["S3Uri"], root / "checkpoints")
            restored = checkpoint_files(root / "checkpoints")
            if restored:
                self.context.log(
                    f"        checkpoints{on}: {len(restored)} file(s) restored from {self.checkpoint['S3Uri']}"
                )
        resources = resource_config(
            self.hosts, index, self.arguments["ResourceConfig"]["InstanceType"], linked=several and self.isolated
        )
        host_root(
            root,
            hyperparameters=self.arguments.get("HyperParameters", {}),
            channels=channels,
            resources=resources,
        )
        return root, restored

    def _start(self, roots: list[Path]) -> list[int]:
        job = {"TRAINING_JOB_NAME": self.name, "SAGEMAKER_TRAINING_MODULE": DLC_TRAINING_MODULE}
        env = container_env(
            self.context, {**self.arguments.get("Environment", {}), **job}, None if self.isolated else self.role
        )
        return run_hosts(
            self.context,
            roots,
            [self.context.python, "-c", TRAIN_ENTRY],
            env,
            isolated=self.isolated,
            log_files=[self._log_file(index) for index in range(len(roots))],
            watch=self._watch,
        )

    def _watch(self, _host: int, line: str, processes: list[subprocess.Popen]) -> None:
        interruption = self.context.interruption
        if interruption and self.interrupted_in and line.startswith(RESUMED):
            interruption.resumed[self.name] = int(line.removeprefix(RESUMED).split()[0])
        # One interruption per execution: the first job to reach the step is reclaimed, once.
        if not interruption or interruption.happened or not line.startswith("train: step="):
            return
        if int(line.split("=", 1)[1].split()[0]) >= interruption.at_step:
            interruption.happened.append(self.name)
            self.interrupted_in = self.attempt
            # The last host: with several, one that is not the leader, which alone writes checkpoints.
            host = self.hosts[-1]
            self.context.log(
                f"        spot interruption injected: SIGTERM at {line.split()[1]} on {host}, "
                f"the instance reclaimed in {interruption.notice_seconds:g} s"
            )
            self.notice = SpotNotice(processes[-1], interruption.notice_seconds)

    def _upload_model(self, root: Path) -> str:
        archive = pack_model_dir(root / "model", self.folder / "model.tar.gz")
        bucket, prefix = split_uri(self.arguments["OutputDataConfig"]["S3OutputPath"])
        key = f"{prefix.rstrip('/')}/{self.name}/output/model.tar.gz".lstrip("/")
        self.s3.upload_file(str(archive), bucket, key)
        return f"s3://{bucket}/{key}"
