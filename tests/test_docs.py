"""The README's threshold table and the spec's threshold table must agree."""

from pathlib import Path

from generator.spec.thresholds import THRESHOLDS

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_lists_every_threshold() -> None:
    text = README.read_text()
    for row in THRESHOLDS:
        line = f"| {row.signal} | {row.level} | {row.default:g} | {row.meaning} |"
        assert line in text, f"README is missing the threshold row: {line}"
