"""docs/benchmarks.md: each benchmark replaces its own section; the one-table summary stays on top."""

from __future__ import annotations

from benchmarks import report


def test_sections_are_replaced_in_place_and_the_summary_leads(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "DOCS", tmp_path / "benchmarks.md")
    monkeypatch.setattr(report, "SUMMARY", tmp_path / "benchmarks.json")
    headline = [{"result": "train.py", "value": "144 samples/s", "baseline": "HF Trainer", "ratio": "1.09x"}]
    report.publish("train", ["### Training", "first"], headline=headline)
    report.publish("synth", ["### Synth", "7 s"], headline=[{**headline[0], "result": "cdk synth"}])
    report.publish("train", ["### Training", "second"], headline=headline)
    text = (tmp_path / "benchmarks.md").read_text()
    assert text.index("bench:summary:begin") < text.index("bench:train:begin") < text.index("bench:synth:begin")
    assert "second" in text and "first" not in text and text.count("bench:train:begin") == 1
    summary = text.split("<!-- bench:summary:end -->")[0]
    assert "| synth | " in summary and "| train | " in summary and "| cdk synth | 144 samples/s |" in summary
