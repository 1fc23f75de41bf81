"""Output targets: each turns a bundle into files, relative to out/<spec name>/."""

from pathlib import PurePosixPath

from generator.bundle import Bundle
from generator.targets import grafana_dashboards, prometheus_rules, promtool_tests

TARGETS = (prometheus_rules, promtool_tests, grafana_dashboards)


def render_bundle(bundle: Bundle) -> dict[PurePosixPath, str]:
    """Return every file of one bundle, keyed by its path under out/."""
    files: dict[PurePosixPath, str] = {}
    for target in TARGETS:
        for path, text in target.render(bundle).items():
            files[PurePosixPath(bundle.name) / path] = text
    return files
