"""The rehearsal's report: a silent step says what is under way (issue 47: `make run` was silent for minutes)."""

from __future__ import annotations

import time

from rehearsal.report import Report


def test_a_silent_step_is_named_with_how_long_it_has_run_and_output_keeps_it_quiet(capsys):
    report = Report()
    with report.heartbeat(every=1.0):
        report.step("Run the deployed pipeline")
        time.sleep(2.5)
        silent = capsys.readouterr().out
        for _ in range(10):  # a step that prints keeps the heartbeat quiet
            report.log("        train: step=1")
            time.sleep(0.1)
        busy = capsys.readouterr().out
    time.sleep(1.5)
    assert "   ...       Run the deployed pipeline: under way for " in silent
    assert "under way" not in busy and busy.count("train: step=1") == 10
    assert capsys.readouterr().out == "", "nothing after the heartbeat ends"
