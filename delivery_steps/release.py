"""`python -m delivery_steps.release resolve`: which model package this release serves, written for the synth step.

Runs in the delivery pipeline's ResolveRelease step, with only boto3 installed and only
ListModelPackages / DescribeModelPackage on one group. The release serves the newest *Approved*
version: an approval releases it; rejecting the newest one releases the one approved before it,
which is the rollback. With nothing approved yet, the file says so and stages deploy without serving.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training import contract, model_registry
from training.contract import MODEL_DATA_SHA256


def newest_approved(sagemaker, group: str) -> dict | None:
    """The newest Approved package summary of ``group`` (a name, or an ARN for another account's group)."""
    # Listing a group that does not exist returns nothing, which would release "no model" and take the
    # endpoints down; a misnamed group must fail the step instead.
    sagemaker.describe_model_package_group(ModelPackageGroupName=group)
    return model_registry.newest_approved(sagemaker, group)


class ReleaseError(ValueError):
    """The approved package cannot be released; the message names the fix."""


def release_record(sagemaker, package: dict | None, group: str) -> dict:
    """The file the synth step reads (``stacks.delivery.config.Release``).

    Every stage copies ``model_data_url`` into its own bucket and checks the copy against
    ``model_data_sha256``, the digest the pipeline recorded when it evaluated the model; the image and
    environment are the package's container, so synth needs no lookup.
    """
    if package is None:
        return {
            "model_package_arn": None,
            "model_package_group": group,
            "note": "no approved package yet: stages deploy without serving",
        }
    arn = package["ModelPackageArn"]
    described, container = model_registry.serving_container(sagemaker, arn)
    metadata = described.get("CustomerMetadataProperties") or {}
    digest = metadata.get(MODEL_DATA_SHA256)
    if not digest:
        raise ReleaseError(
            f"{arn} has no {MODEL_DATA_SHA256} in its metadata, so no stage could verify its copy. "
            "Fix: run the training pipeline again (it records the digest at evaluation) and approve "
            "the new package, or reject this one."
        )
    missing = [name for name in contract.evaluated_metadata_names() if name not in metadata]
    if missing:
        raise ReleaseError(
            f"{arn} lacks metadata {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}: the probe set and "
            "monitoring baseline the pipeline records with the digest were taken off it (or it was registered before "
            "they were), so a stage would serve it with no probe or drift alarm. Fix: run the training pipeline "
            "again and approve the new package, or reject this one."
        )
    return {
        "model_package_arn": arn,
        "model_package_group": group,
        "version": package.get("ModelPackageVersion"),
        "created": package["CreationTime"].isoformat() if "CreationTime" in package else None,
        "model_data_url": container["ModelDataUrl"],
        "model_data_sha256": digest,
        "image": container["Image"],
        "environment": container.get("Environment", {}),
        "probes": probes(metadata, arn),
        "monitor_baseline": monitor_baseline(metadata, arn),
    }


def probes(metadata: dict, arn: str) -> list[list[str]]:
    """The package's probe set, each probe once, as ``[label, text]`` pairs; none where its evaluation found none
    (the stages then serve it without the probe alarm)."""
    found: list[list[str]] = []
    for index in range(contract.PROBE_COUNT):
        value = metadata.get(contract.probe_metadata_name(index), contract.NO_PROBE)
        if value == contract.NO_PROBE:
            continue
        try:
            probe = list(contract.decode_probe(value))
        except ValueError as error:
            raise ReleaseError(
                f"{arn}: metadata {contract.probe_metadata_name(index)}: {error}. Fix: register the model again "
                "with the training pipeline, which writes the probe set, and approve the new package."
            ) from error
        if probe not in found:
            found.append(probe)
    return found


def monitor_baseline(metadata: dict, arn: str) -> dict | None:
    """What the package's evaluation measured for the drift monitor; None for a package whose classes were too many to
    store (the stages then serve it without drift alarms)."""
    names = {key: name for name, key in contract.MONITOR_METADATA.items()}
    values = {key: metadata.get(name, contract.NO_BASELINE) for key, name in names.items()}
    if contract.NO_BASELINE in values.values():
        return None
    baseline = {}
    for key, decode in (
        ("class_mix", contract.decode_shares),
        ("length", contract.decode_shares),
        ("mean_score", float),
    ):
        try:
            baseline[key] = decode(values[key])
        except ValueError as error:
            raise ReleaseError(
                f"{arn}: metadata {names[key]}: {error}. Fix: register the model again with the training pipeline, "
                "which writes the baseline, and approve the new package."
            ) from error
    return baseline


# CodePipeline's limit on an action configuration value (botocore's ActionConfigurationValue), which the approval's
# comment must fit with the summary in it.
MAX_SUMMARY = 800
RELEASE_NOTE = "the ResolveRelease build's release.json"


def summary(record: dict) -> str:
    """One line for the approver: exactly what the stages will run."""
    if record.get("model_package_arn") is None:
        return "no model (no package is approved yet)"
    environment = ", ".join(f"{k}={v}" for k, v in sorted((record.get("environment") or {}).items())) or "none"
    # The environment last: it is what a long line loses.
    line = (
        f"model package {record['model_package_arn']}; image {record['image']}; model data "
        f"{record['model_data_url']}, SHA-256 {record['model_data_sha256']}; {_guards(record)}; "
        f"environment {environment}"
    )
    cut = f"... (all of it in {RELEASE_NOTE})"
    return line if len(line) <= MAX_SUMMARY else line[: MAX_SUMMARY - len(cut)] + cut


def _guards(record: dict) -> str:
    """What will watch the release once served: its probe set and its drift baseline (none means no such alarm)."""
    probes = len(record.get("probes") or [])
    baseline = record.get("monitor_baseline")
    drift = (
        f"drift baseline class mix {' '.join(f'{share:.2f}' for share in baseline['class_mix'])}, "
        f"mean top score {baseline['mean_score']:.2f}"
        if baseline
        else "no drift baseline (no drift alarms)"
    )
    return f"{probes} probe(s){'' if probes else ' (no probe alarm)'}; {drift}"


def print_summary(args: argparse.Namespace) -> int:
    print(summary(json.loads(args.file.read_text())))
    return 0


def resolve(args: argparse.Namespace) -> int:
    import boto3

    sagemaker = boto3.Session(region_name=args.region).client("sagemaker")
    record = release_record(sagemaker, newest_approved(sagemaker, args.group), args.group)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"release: {record['model_package_arn'] or 'no approved package yet'} -> {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m delivery_steps.release",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command = commands.add_parser("resolve", help="write the newest approved package of a group to a release file")
    command.add_argument("--group", required=True, help="model package group name, or its ARN in another account")
    command.add_argument("--region", required=True, help="the group's region")
    command.add_argument(
        "--out",
        type=Path,
        default=Path("release/release.json"),
        help="where to write the release file that `cdk synth -c release=...` reads",
    )
    command.set_defaults(handler=resolve)
    command = commands.add_parser("summary", help="print a release file in one line, for the approver")
    command.add_argument("--file", type=Path, default=Path("release/release.json"), help="the release file")
    command.set_defaults(handler=print_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except Exception as error:  # noqa: BLE001 - botocore errors name the missing permission or group
        what = f"resolve the approved package of {args.group}" if args.command == "resolve" else f"read {args.file}"
        print(f"release: could not {what}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
