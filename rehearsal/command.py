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
import shutil
import sys
import time
import traceback
from pathlib import Path

from rehearsal import synth
from rehearsal.cloud import Cloud
from rehearsal.cloudformation.model import DeployError
from rehearsal.deployed import PIPELINE_OUTPUTS
from rehearsal.flows.delivery import rehearse_delivery
from rehearsal.flows.stage import rehearse_stage
from rehearsal.iam import AccessDenied
from rehearsal.report import Outcome, RehearsalFailed, Report
from rehearsal.session import Options, Session
from stacks.project import ROOT


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
    with Cloud() as cloud, report.heartbeat():
        try:
            session = Session(cloud, options, report)
            if options.stage == "delivery":
                rehearse_delivery(session)
            else:
                rehearse_stage(session, options.stage)
        except (RehearsalFailed, AccessDenied, DeployError, synth.SynthFailed) as failure:
            report.failures.append(str(failure))
        except Exception as fault:  # noqa: BLE001 - any other fault is a verdict too, never a traceback
            trace = options.output / "traceback.txt"
            trace.write_text(traceback.format_exc())
            report.failures.append(
                f"{report.current}: {type(fault).__name__}: {str(fault)[:600]}. Fix: this step failed in a way the "
                f"rehearsal has no AWS rule for; the trace is in {trace}."
            )
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
