"""The spec: models, loading with positions, cross-field checks and the JSON Schema."""

from generator.spec.loader import load_spec, load_specs
from generator.spec.models import Spec

__all__ = ["Spec", "load_spec", "load_specs"]
