"""The spec's JSON Schema, for editors and CI linters."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from generator.spec.models import Spec


class _InputJsonSchema(GenerateJsonSchema):
    """A validation-mode schema whose defaults are written as a user writes them.

    Pydantic 2.14 writes a default as the Python value it stores, so a duration field that
    stores 60 seconds would show `60`, which the spec rejects. Here a default passes
    through the field's plain serializer first, so it shows as "1m".
    """

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        serializer = schema["schema"].get("serialization")
        if (
            "default" in schema
            and schema["default"] is not None
            and serializer is not None
            and serializer["type"] == "function-plain"
            and not serializer.get("info_arg")
        ):
            schema = {**schema, "default": serializer["function"](schema["default"])}
        return super().default_schema(schema)


def spec_schema() -> dict[str, Any]:
    """Return the JSON Schema of a spec file, as keys are written in YAML."""
    schema = Spec.model_json_schema(by_alias=True, schema_generator=_InputJsonSchema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "emergence-ops spec"
    return schema
