"""The endpoint's code against the inference DLC's own transformers and tokenizers, which are older than the
project's: an API that only the newer release has would pass every other test here and fail on AWS at the first
request. `make install` builds .venv-dlc-inference with the versions the pinned image names (locks/inference-dlc.lock)
over .venv's other packages."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import INFERENCE_DIR, ROOT, TRAINING_DIR

from stacks.images import images_for

DLC_PYTHON = ROOT / ".venv-dlc-inference" / "bin" / "python"
# The handler's tests: the request path, the classifier, and how long texts are read.
HANDLER_TESTS = ["tests/test_inference.py", "tests/test_classifier.py", "tests/test_long_text.py"]
# Loads the exported model through the handler and answers one request, as the model server's worker does.
SERVE_ONE = """
import json, sys
import inference
model = inference.model_fn(sys.argv[1])
request = inference.input_fn(json.dumps({"inputs": ["a gorgeous , witty , seductive movie ."]}), "application/json")
print(inference.output_fn(inference.predict_fn(request, model), "application/json"))
"""


def dlc_transformers() -> str:
    """The transformers version the pinned inference image is named for."""
    found = re.search(r"transformers(\d+\.\d+\.\d+)", images_for("us-east-1").inference)
    assert found, images_for("us-east-1").inference
    return found.group(1)


def in_dlc_env(*args: str, code: Path, python: Path = DLC_PYTHON) -> subprocess.CompletedProcess:
    assert python.exists(), f"{python} is missing. Fix: run `make install`, which builds it from locks/."
    env = {"PYTHONPATH": f"{code}:{TRAINING_DIR}", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(python), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_environment_has_the_transformers_the_inference_image_is_named_for():
    shown = in_dlc_env("-c", "import transformers, tokenizers; print(transformers.__version__)", code=INFERENCE_DIR)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout.strip() == dlc_transformers() != __import__("transformers").__version__


def test_the_handlers_tests_pass_on_the_inference_images_transformers():
    result = in_dlc_env("-m", "pytest", "-q", "-p", "no:cacheprovider", *HANDLER_TESTS, code=INFERENCE_DIR)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]


def test_a_newer_transformers_api_in_the_handler_fails_there_and_not_here(served_model_dir, tmp_path):
    """What passed before: the classifier imports a name transformers added after the image's release."""
    listed = in_dlc_env("-c", "import json, transformers; print(json.dumps(dir(transformers)))", code=INFERENCE_DIR)
    missing = sorted(set(dir(__import__("transformers"))) - set(json.loads(listed.stdout)))
    assert missing, "transformers here adds no public name over the image's"
    planted = shutil.copytree(INFERENCE_DIR, tmp_path / "code")
    classifier = planted / "classifier.py"
    classifier.write_text(
        classifier.read_text().replace(
            "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
            f"from transformers import AutoModelForSequenceClassification, AutoTokenizer, {missing[0]}",
        )
    )
    served_here = in_dlc_env("-c", SERVE_ONE, str(served_model_dir), code=planted, python=Path(sys.executable))
    assert served_here.returncode == 0, served_here.stderr[-2000:]
    served_there = in_dlc_env("-c", SERVE_ONE, str(served_model_dir), code=planted)
    assert served_there.returncode != 0 and f"cannot import name '{missing[0]}'" in served_there.stderr
    unplanted = in_dlc_env("-c", SERVE_ONE, str(served_model_dir), code=INFERENCE_DIR)
    assert unplanted.returncode == 0 and '"label"' in unplanted.stdout, unplanted.stderr[-2000:]
