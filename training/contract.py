"""The contract between the stacks and the container code: every value that crosses the SageMaker boundary.

Standard library only, and no imports from its siblings, because four kinds of process read it:
- training and evaluation jobs import it by plain name (``import contract``), as they import every
  module of ``training/``;
- the endpoint imports it by plain name from the model's ``code/`` folder, where export copies it;
- the CDK app, the CLI and the delivery steps import it as ``training.contract``.
A value written here is spelled nowhere else.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

# --- Paths inside the containers -------------------------------------------------------------------
CHANNEL_ROOT = "/opt/ml/input/data"
CHECKPOINT_DIR = "/opt/ml/checkpoints"
PROCESSING = "/opt/ml/processing"
EVALUATION_OUTPUT = f"{PROCESSING}/evaluation"

# --- Channels (training jobs) and inputs (the evaluation job) --------------------------------------
TRAIN = "train"
VALIDATION = "validation"
TEST = "test"
MODEL = "model"
TEACHER = "teacher"
# The evaluation job's optional second channel: texts unlike the test split (another domain, long texts) on which
# int8 must also agree with fp32 before it is served. A dataset uploaded without one holds only NO_SHIFT_FILE
# there (not a data file): a job's input prefix must hold an object.
SHIFT = "shift"
NO_SHIFT_FILE = "NO_SHIFT_DATA.txt"
NO_SHIFT_BODY = b"no shift split in this dataset version\n"
# Under network isolation the container has no network and no credentials, so the training toolkit
# cannot fetch an s3:// submit directory: the code travels as an input channel, as the SageMaker SDK
# ships it for isolated jobs, and the toolkit unpacks it from the channel's local path.
CODE = "code"


def channel_env(channel: str) -> str:
    """The variable SageMaker sets to a training channel's local folder, e.g. SM_CHANNEL_TRAIN."""
    return f"SM_CHANNEL_{channel.upper()}"


def processing_input(name: str) -> str:
    """Where a processing job finds its input ``name``."""
    return f"{PROCESSING}/input/{name}"


# --- Programs -------------------------------------------------------------------------------------
# Paths inside the code bundle (sourcedir.tar.gz), which holds training/ and inference/.
TRAINING_PROGRAM = "training/train.py"
EVALUATION_PROGRAM = "training/evaluate.py"
# The endpoint's handler module inside the model's code/ folder.
SERVING_PROGRAM = "inference.py"

# --- Endpoint environment -------------------------------------------------------------------------
# Read by the DLC's toolkit: the handler module, and the region it runs in.
PROGRAM_ENV = "SAGEMAKER_PROGRAM"
REGION_ENV = "SAGEMAKER_REGION"
# "int8": the stage asks for int8 dynamic quantization; served only where evaluation verified it.
QUANTIZE_ENV = "TEXTCLF_QUANTIZE"
# "true"/"false": evaluation's verdict on int8, carried by the registered package to every stage.
INT8_VERIFIED_ENV = "TEXTCLF_INT8_VERIFIED"
MAX_BATCH_ENV = "TEXTCLF_MAX_BATCH"
# The model server's JVM options, read by the DLC's toolkit (sagemaker-inference). Its default,
# -XX:-UseContainerSupport, sizes the heap from the host's RAM, not the endpoint's; the cap fits the
# smallest serverless memory (1 GB) beside the Python worker. Heap and direct buffers (which default
# to the heap's size) together stay under 256 MB.
MODEL_SERVER_VMARGS_ENV = "SAGEMAKER_MODEL_SERVER_VMARGS"
MODEL_SERVER_VMARGS = "-XX:-UseContainerSupport -Xmx128m"
TOKENS_PER_BATCH_ENV = "TEXTCLF_TOKENS_PER_BATCH"
THREADS_ENV = "TEXTCLF_THREADS"

# --- Content types -------------------------------------------------------------------------------
# What the endpoint decodes and encodes; data capture stores the JSON ones as text, batch transform
# splits JSON Lines and CSV input by line.
JSON = "application/json"
JSONLINES = "application/jsonlines"
CSV = "text/csv"

# --- Batch transform -------------------------------------------------------------------------------
# A transform job packs whole lines into requests of up to this size; the batch model accepts that many texts.
BATCH_MAX_PAYLOAD_MB = 1
BATCH_MAX_TEXTS = 20_000
# What one such request may take on a CPU instance; the model server's default (60 s) is for interactive ones.
BATCH_INVOCATION_TIMEOUT_SECONDS = 600
MODEL_SERVER_TIMEOUT_ENV = "SAGEMAKER_MODEL_SERVER_TIMEOUT"

# --- Endpoint logs ----------------------------------------------------------------------------------


def endpoint_log_group(endpoint_name: str) -> str:
    """Where SageMaker writes an endpoint's container output; the stack creates this group first."""
    return f"/aws/sagemaker/Endpoints/{endpoint_name}"


# multi-model-server logs this each time it restarts a dead worker, and again at every backoff while
# it cannot; its /ping answers 200 all the while, so the stack's alarm watches the log for it.
WORKER_RESTART_LOG = "Retry worker"

# --- Monitoring signals ------------------------------------------------------------------------------
# The handler writes one line per answered text, and the stack's metric filters turn those lines into metrics. The
# model server logs a worker's stdout behind its own log4j prefix ("<time> [INFO ] W-<worker>-stdout
# com.amazonaws.ml.mms.wlm.WorkerLifeCycle - <line>"), so the event is never JSON: embedded metric format and JSON
# filter patterns cannot read it. A space-delimited pattern that skips the prefix ("...") and names the last fields
# can. The line holds numbers only: never the text, nor a label (a label may contain spaces).
SIGNAL_MARKER = "textclf-signal"
SIGNAL_FIELDS = ("predicted", "score", "length")
# Token-length buckets: bucket i holds texts of at most LENGTH_EDGES[i] tokens; the one after the edges, longer
# texts the window still held whole (a window over 512 tokens); the last, texts the window cut.
LENGTH_EDGES = (16, 32, 64, 128, 256, 512)
LENGTH_BUCKETS = len(LENGTH_EDGES) + 2
TRUNCATED_BUCKET = LENGTH_BUCKETS - 1


def length_bucket(tokens: int, truncated: bool) -> int:
    if truncated:
        return TRUNCATED_BUCKET
    return next((i for i, edge in enumerate(LENGTH_EDGES) if tokens <= edge), len(LENGTH_EDGES))


def signal_line(predicted: int, score: float, tokens: int, truncated: bool) -> str:
    """What the handler logs for one answered text: the fields of SIGNAL_FIELDS after the marker."""
    return f"{SIGNAL_MARKER} {predicted} {score:.4f} {length_bucket(tokens, truncated)}"


def signal_filter_pattern() -> str:
    """The metric filters' pattern: any prefix, then the marker and the signal's fields by name."""
    return f"[..., marker={SIGNAL_MARKER}, {', '.join(SIGNAL_FIELDS)}]"


# The baseline monitoring compares with: shares of predicted classes and of length buckets on the test channel as
# served, and the mean top score. evaluate.py writes it whole to MONITOR_BASELINE_FILE, which
# registration points the package's ModelDataQuality statistics to, and compactly to gate.json's "monitor" object,
# which registration copies into the package's metadata (metadata name -> key in the baseline), so a release
# carries it to synth as it carries the probe set.
MONITOR_BASELINE_FILE = "monitoring_baseline.json"
GATE_MONITOR = "monitor"
MONITOR_METADATA = {
    "MonitorClassMix": "class_mix",
    "MonitorLength": "length",
    "MonitorTopScore": "mean_score",
}
NO_BASELINE = "none"


def encode_shares(shares: list[float]) -> str:
    """Shares as a metadata value (letters, digits, spaces and _.:/=+-@, at most 256 characters): NO_BASELINE
    when even three decimals do not fit, which only a model of more than 40 classes meets."""
    for decimals in (4, 3):
        value = " ".join(f"{share:.{decimals}f}" for share in shares)
        if len(value) <= PROBE_VALUE_CHARACTERS:
            return value
    return NO_BASELINE


def decode_shares(value: str) -> list[float]:
    """ValueError when ``value`` is not shares of one whole."""
    try:
        shares = [float(part) for part in value.split()]
    except ValueError as error:
        raise ValueError(f"not space-separated numbers: {value[:60]!r}") from error
    return checked_shares(shares)


def checked_shares(shares: list[float]) -> list[float]:
    """``shares``; ValueError when they are not shares of one whole (each within 0..1, summing to 1)."""
    if not shares or any(not 0.0 <= share <= 1.0 for share in shares) or abs(sum(shares) - 1.0) > 0.01:
        raise ValueError(f"not shares of one whole (each within 0..1, summing to 1): {shares[:12]}")
    return shares


# --- Files ----------------------------------------------------------------------------------------
# In the model directory (model.tar.gz), beside the weights and tokenizer.
LABELS_FILE = "labels.json"
TRAINING_CONFIG_FILE = "training_config.json"
ENDPOINT_CODE_DIR = "code"
# Keys training adds to the model's config.json: how a text longer than the window is read (long_text.py) and
# the temperature its logits are divided by. The endpoint and evaluation read them from the model they load.
LONG_TEXT_CONFIG = "textclf_long_text"
TEMPERATURE_CONFIG = "textclf_temperature"
# Beside the datasets (textclf data upload): the manifest the trigger matches, written last, and the
# version file in the train split, which train.py records in training_config.json.
DATASET_MANIFEST_FILE = "manifest.json"
# The files a data channel's jobs read (CSV, or JSON Lines for the other two), and `textclf data` checks.
DATA_SUFFIXES = (".csv", ".jsonl", ".json")
DATASET_VERSION_FILE = "DATASET_VERSION"
# In the training job's output data.
METRICS_FILE = "metrics.json"
# The evaluation job's outputs; the pipeline reads the first three as property files.
EVALUATION_FILE = "evaluation.json"
GATE_FILE = "gate.json"
MODEL_DATA_FILE = "model_data.json"
PREDICTIONS_FILE = "predictions.jsonl"
# predictions.jsonl: the top class's probability without the model's temperature, beside "score" (with it).
UNCALIBRATED_SCORE = "uncalibrated_score"

# --- JSON paths in those files --------------------------------------------------------------------
# evaluation.json is SageMaker's model-quality format, which CreateModelPackage's ModelMetrics point to.
ACCURACY_PATH = ("multiclass_classification_metrics", "accuracy", "value")
MACRO_F1_PATH = ("multiclass_classification_metrics", "macro_f1", "value")
# The Baseline step (training/baseline.py), a Lambda step: its arguments and output parameters.
BASELINE_GROUP_ARG = "model_package_group"
BASELINE_MARGIN_ARG = "regression_margin"
# The latest approved model's accuracy minus the regression margin, and that model's package ARN.
BASELINE_MINIMUM = "minimum_accuracy"
BASELINE_APPROVED = "approved_model_package"
# model_data.json: the evaluated model.tar.gz's SHA-256.
MODEL_DATA_SHA256_FIELD = "sha256"
# gate.json: what the condition compares and the Fail message reports.
GATE_SERVED = "served"
GATE_INT8_VERIFIED = "int8_verified"
GATE_FP32_ACCURACY = "fp32_accuracy"
GATE_INT8_ACCURACY = "int8_accuracy"
GATE_INT8_AGREEMENT = "int8_agreement"  # on the shift channel; null without one
GATE_MIN_CLASS_RECALL = "min_class_recall"
GATE_MIN_CLASS_RECALL_LABEL = "min_class_recall_label"
GATE_TEACHER_ACCURACY = "teacher_accuracy"
GATE_TEACHER_SOURCE = "teacher_source"
GATE_TEACHER_FLOOR = "teacher_floor"
# gate.json's "metadata" object: registration copies it into the package's customer metadata, whose
# values must be non-empty strings. Package metadata name -> key in that object.
GATE_METADATA = "metadata"
PACKAGE_METADATA = {
    "Fp32Accuracy": GATE_FP32_ACCURACY,
    "Int8Accuracy": GATE_INT8_ACCURACY,
    "MinClassRecall": GATE_MIN_CLASS_RECALL,
}
# The digest every stage that serves the model checks its own copy against.
MODEL_DATA_SHA256 = "ModelDataSha256"
# The probe set: texts the evaluation answered confidently and rightly, with its answers, which a served model
# must keep giving (stacks/quality_probe.py sends them to the endpoint every minute, an update's bake included).
# Stored with the package as customer metadata Probe01.., whose values SageMaker limits to 256 characters of
# letters, digits, spaces and _.:/=+-@ (botocore's CustomerMetadataValue): each is URL-safe base64 of a JSON
# [label, text] pair, so a probe text is at most PROBE_TEXT_BYTES of UTF-8 JSON.
PROBE_METADATA_PREFIX = "Probe"
PROBE_COUNT = 24
PROBE_VALUE_CHARACTERS = 256
PROBE_TEXT_BYTES = PROBE_VALUE_CHARACTERS // 4 * 3
# A probe counts only where the evaluation was this sure of its (right) answer: a borderline text may flip between
# fp32 and int8, or between two good models, and a probe must not.
PROBE_MIN_SCORE = 0.9
# gate.json's "probes" object: metadata name -> encoded probe, or NO_PROBE where the evaluation found none.
GATE_PROBES = "probes"
NO_PROBE = "none"


def probe_metadata_name(index: int) -> str:
    return f"{PROBE_METADATA_PREFIX}{index + 1:02d}"


def evaluated_metadata_names() -> tuple[str, ...]:
    """What registration always writes from the evaluation (NO_PROBE, NO_BASELINE where it found none) and a release
    relies on: the digest, the probe set and the monitoring baseline. The registry's policy refuses removing or
    changing any of them (stacks/registry.py), and the release step refuses a package that lacks one."""
    return (MODEL_DATA_SHA256, *(probe_metadata_name(i) for i in range(PROBE_COUNT)), *MONITOR_METADATA)


def encode_probe(label: str, text: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([label, text], ensure_ascii=False).encode()).decode()


def decode_probe(value: str) -> tuple[str, str]:
    """``(label, text)``; ValueError when ``value`` is not an encoded probe."""
    try:
        label, text = json.loads(base64.urlsafe_b64decode(value.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as error:
        raise ValueError(f"not a probe (URL-safe base64 of a JSON [label, text] pair): {error}") from error
    if not (isinstance(label, str) and label and isinstance(text, str) and text.strip()):
        raise ValueError("a probe is a non-empty label and a non-empty text")
    return label, text


def json_path(*keys: str) -> str:
    """A property-file path as the pipeline's JsonGet writes it, e.g. metadata.fp32_accuracy."""
    return ".".join(keys)


def read_path(document: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path``; KeyError names the first missing key."""
    for key in path:
        document = document[key]
    return document


# --- Hyperparameters ------------------------------------------------------------------------------
# Strings, as SageMaker passes them: train.py's argparse parses these defaults as it parses the pipeline's
# values, and the pipeline's parameters default to the same text.
DEFAULT_EPOCHS = "3"
DEFAULT_LEARNING_RATE = "5e-5"
DEFAULT_ALPHA = "0.5"
DEFAULT_TEMPERATURE = "3.0"
DEFAULT_EVAL_STEPS = "0"
# The distillation pipeline's teacher, fine-tuned longer and more gently than the student.
DEFAULT_TEACHER_EPOCHS = "3"
DEFAULT_TEACHER_LEARNING_RATE = "3e-5"
# The pipelines always pass a validation channel, so they stop early by default; train.py's own default is off
# (0), since a local run may have no validation data.
PIPELINE_EARLY_STOPPING_PATIENCE = "3"

# --- Metric lines and the regexes that read them --------------------------------------------------
# A line looks like ``train: step=120 epoch=0.57 loss=0.3312 lr=4.1e-05 samples_per_sec=812.4``; the
# training jobs' MetricDefinitions are METRIC_DEFINITIONS, so writer and reader cannot drift.
NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"

METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": rf"^train: .*\bloss={NUMBER}"},
    {"Name": "train:learning_rate", "Regex": rf"^train: .*\blr={NUMBER}"},
    {"Name": "train:samples_per_sec", "Regex": rf"^train: .*\bsamples_per_sec={NUMBER}"},
    {"Name": "eval:loss", "Regex": rf"^eval: .*\bloss={NUMBER}"},
    {"Name": "eval:accuracy", "Regex": rf"^eval: .*\baccuracy={NUMBER}"},
    {"Name": "eval:f1", "Regex": rf"^eval: .*\bf1_macro={NUMBER}"},
    # Early stopping's verdict: the step whose weights were exported, and their validation score.
    {"Name": "stop:best_step", "Regex": rf"^stop: .*\bbest_step={NUMBER}"},
    {"Name": "stop:best_score", "Regex": rf"^stop: .*\bbest_score={NUMBER}"},
]


def metric_line(kind: str, **values) -> str:
    parts = []
    for key, value in values.items():
        if isinstance(value, float):
            value = f"{value:.4e}" if key == "lr" else f"{value:.4f}"
        parts.append(f"{key}={value}")
    return f"{kind}: " + " ".join(parts)
