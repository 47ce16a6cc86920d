"""docs/benchmarks.md: one section per benchmark, each replaced when that benchmark reruns."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
SUMMARY = DOCS.with_suffix(".json")


def write_section(name: str, text: str) -> None:
    """Replace this benchmark's section of docs/benchmarks.md, keeping the others."""
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    DOCS.parent.mkdir(exist_ok=True)
    current = (
        DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\nLatest figures of every benchmark in the project.\n"
    )
    section = f"{begin}\n{text}\n{end}"
    if begin in current:
        head, rest = current.split(begin, 1)
        current = head + section + rest.split(end, 1)[1]
    elif name == "summary":
        # The summary goes first, right under the page's title and intro.
        title, _, rest = current.partition("\n\n")
        intro, _, rest = rest.partition("\n\n")
        current = f"{title}\n\n{intro}\n\n{section}\n\n{rest}".rstrip("\n") + "\n"
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    DOCS.write_text(current)


def publish(name: str, lines: list[str], headline: list[dict] | None = None) -> None:
    """Print a benchmark's table, record it in docs/benchmarks.md, and refresh the one-table summary.

    ``headline`` rows are ``{"result", "value", "baseline", "ratio"}``: what the summary shows for this benchmark.
    """
    text = "\n".join(lines)
    print(text)
    write_section(name, text)
    if headline is not None:
        summary = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
        summary[name] = {"date": date.today().isoformat(), "rows": headline}
        SUMMARY.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    write_section("summary", summary_table())


def summary_table() -> str:
    """Every benchmark's latest headline figures in one table (docs/benchmarks.json is the record)."""
    summary = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    lines = [
        "### All benchmarks, latest figures",
        "",
        "Regenerate everything with `make bench`; each section below has the full table and method.",
        "",
        "| benchmark | date | result | value | baseline | ratio |",
        "|---|---|---|---:|---|---:|",
    ]
    for name in sorted(summary):
        for row in summary[name]["rows"]:
            lines.append(
                f"| {name} | {summary[name]['date']} | {row['result']} | {row['value']} | "
                f"{row['baseline']} | {row['ratio']} |"
            )
    return "\n".join(lines)
