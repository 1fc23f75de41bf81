"""The spec's JSON Schema, for editors and CI linters."""

from __future__ import annotations

from typing import Any

from generator.spec.models import Spec


def spec_schema() -> dict[str, Any]:
    """Return the JSON Schema of a spec file, as keys are written in YAML."""
    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "emergence-ops spec"
    return schema
