"""docs/benchmarks.md: one section per benchmark, each replaced when that benchmark reruns."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(name: str, text: str) -> None:
    """Replace this benchmark's section of docs/benchmarks.md, keeping the others."""
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    DOCS.parent.mkdir(exist_ok=True)
    current = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\nLatest figures of every benchmark in the project.\n"
    section = f"{begin}\n{text}\n{end}"
    if begin in current:
        head, rest = current.split(begin, 1)
        current = head + section + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    DOCS.write_text(current)


def publish(name: str, lines: list[str]) -> None:
    """Print a benchmark's table and record it in docs/benchmarks.md."""
    text = "\n".join(lines)
    print(text)
    write_section(name, text)
