"""`textclf monitor report --stage S`: the drift monitor's figures over the last days, each beside the threshold its
alarm fires above, drawn with matplotlib into one PNG (docs/monitoring.md).

Read-only: DescribeAlarms and GetMetricData, so an operator's read-only role is enough.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli import pipeline_ops, status
from cli.charts import pyplot, save
from cli.errors import UserError, one_stage, positive_int
from stacks.monitor_settings import DRIFT

REPORT = "monitor_report.png"
MEANING = {
    DRIFT["class_mix"]: "predicted-class mix vs the test set (Jensen-Shannon, bits)",
    DRIFT["confidence_drop"]: "mean top score below the test set's",
    DRIFT["length"]: "token-length mix vs the test set (Jensen-Shannon, bits)",
}


def report_figure(stage: str, figures: dict[str, tuple[float, list[tuple[datetime, float]]]], days: int):
    """One panel per figure: its windows, the alarm threshold, and the windows above it marked."""
    plt = pyplot()
    figure, panels = plt.subplots(len(figures), 1, figsize=(9, 2.6 * len(figures)), dpi=110, sharex=True, squeeze=False)
    for axes, (name, (threshold, points)) in zip(panels[:, 0], sorted(figures.items()), strict=True):
        times, values = [t for t, _ in points], [v for _, v in points]
        axes.plot(times, values, marker="o", markersize=3, label=name)
        over = [(t, v) for t, v in points if v > threshold]
        if over:
            axes.scatter([t for t, _ in over], [v for _, v in over], color="red", zorder=3, label="above the alarm")
        axes.axhline(threshold, color="red", linestyle="--", linewidth=1, label=f"alarm above {threshold:g}")
        axes.set_title(f"{name}: {MEANING.get(name, name)}" + ("" if points else " (no window held enough texts)"))
        axes.set_ylabel(name)
        axes.legend(loc="upper left", fontsize=8)
    panels[-1, 0].set_xlabel("window end (UTC)")
    figure.suptitle(f"Stage {stage}: drift from the served model's test set, last {days} days")
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure


def run(args: argparse.Namespace) -> int:
    config = pipeline_ops.stage_config(args.stage)
    outputs = pipeline_ops.stage_outputs(config)
    cloudwatch = status.clients(config).cloudwatch
    alarms = status.drift_alarms(status.stage_alarms(cloudwatch, outputs.get("AlarmTopicArn")))
    if not alarms:
        raise UserError(
            f"stage {config.name} has no drift alarms: it serves no release that carries an evaluation baseline. "
            "Fix: serve a release through the delivery pipeline (docs/monitoring.md, Drift)."
        )
    end = datetime.now(UTC)
    start = end - timedelta(days=args.days)
    figures = {a["MetricName"]: (a["Threshold"], status.drift_series(cloudwatch, a, start, end)) for a in alarms}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(save(report_figure(config.name, figures, args.days), out / REPORT))
    return 0


def add_parser(commands) -> None:
    monitor = commands.add_parser("monitor", help="the drift monitor's figures", description=__doc__)
    actions = monitor.add_subparsers(dest="action", required=True, metavar="ACTION")
    report = actions.add_parser("report", help="draw each drift figure over the last days beside its alarm threshold")
    report.add_argument("--stage", type=one_stage, default="dev", help="dev (default), staging or prod")
    report.add_argument("--days", type=positive_int, default=7, help="how many days back to draw (default: 7)")
    report.add_argument("--out", default=".", help=f"the folder {REPORT} goes to (default: the current one)")
    report.set_defaults(handler=run)
