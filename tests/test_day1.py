"""docs/day1.md: its offline commands run as written, on the project's own sample, with the CLI the user runs."""

from __future__ import annotations

import re
import shlex

from cli import main as cli_main
from stacks.project import ROOT

MARKER = "<!-- offline: tests/test_day1.py runs these commands as written -->"


def offline_commands() -> list[list[str]]:
    """The fenced block after the marker, its continuation lines joined."""
    text = (ROOT / "docs" / "day1.md").read_text()
    block = re.search(re.escape(MARKER) + r"\s*```bash\n(.*?)```", text, re.DOTALL)
    assert block, f"docs/day1.md lost its offline block ({MARKER})"
    joined = re.sub(r"\\\n\s*", " ", block.group(1))
    return [shlex.split(line) for line in joined.splitlines() if line.strip()]


def test_day1s_offline_steps_run_as_written_on_the_shipped_sample(monkeypatch, capsys):
    commands = offline_commands()
    assert [command[:3] for command in commands] == [["textclf", "data", "validate"], ["textclf", "cost", "--stage"]]
    monkeypatch.chdir(ROOT)
    for command in commands:
        assert cli_main.main(command[1:]) == 0, (command, capsys.readouterr().err)
    out = capsys.readouterr().out
    assert "0 error(s)" in out and all(split in out for split in ("train", "validation", "test"))
