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


@pytest.fixture(scope="session")
def cdk_context() -> dict:
    return json.loads((ROOT / "cdk.json").read_text())["context"]


@pytest.fixture
def stage_settings(cdk_context) -> dict:
    """A mutable copy of the dev stage's settings, for tests that break one field."""
    return copy.deepcopy(cdk_context["stages"]["dev"])


@pytest.fixture(scope="session")
def synthesized(cdk_context, tmp_path_factory):
    """Every stage synthesized through app.py's own wiring, cdk-nag included."""
    from aws_cdk import App

    import app as cdk_app

    context = {**cdk_context, "stage": "all"}
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
