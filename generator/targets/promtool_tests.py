"""Generated test cases to promtool unit test files beside the rules."""

from __future__ import annotations

from pathlib import PurePosixPath

from generator import naming
from generator.bundle import Bundle
from generator.durations import format_duration
from generator.output import dump_yaml
from generator.targets.prometheus_rules import header


def render(bundle: Bundle) -> dict[PurePosixPath, str]:
    """Return one promtool test file per pattern that has scenarios."""
    files = {}
    interval = format_duration(bundle.plan.spec.evaluation_interval)
    for part, cases in bundle.tests.items():
        rule_parts = bundle.test_rule_files[part]
        groups = [group.name for p in rule_parts for group in bundle.rule_files[p]]
        document = {
            # Paths are relative to the test file, which sits in prometheus/tests/.
            "rule_files": [f"../rules/{p}.rules.yaml" for p in rule_parts],
            "evaluation_interval": interval,
            "group_eval_order": groups,
            "tests": [
                {
                    "name": case.name,
                    "interval": interval,
                    "input_series": case.input_series,
                    "alert_rule_test": case.alert_rule_test,
                    "promql_expr_test": case.promql_expr_test,
                }
                for case in cases
            ],
        }
        path = PurePosixPath(naming.tests_file(part))
        files[path] = dump_yaml(document, header(bundle, "promtool tests"))
    return files
