"""JSON Schema (draft 2020-12) of the project format v1, generated from the block catalog so it can
never drift from it. `rnn-studio schema` prints it; docs/project-format.schema.json is a copy that a
test keeps in sync."""
from __future__ import annotations

from typing import Any

from .blocks import CATALOG
from .project import FORMAT_NAME, FORMAT_VERSION


def project_schema() -> dict[str, Any]:
    block_variants = []
    for d in CATALOG.values():
        block_variants.append({
            "if": {"properties": {"type": {"const": d.type}}},
            "then": {"properties": {"params": {
                "type": "object", "additionalProperties": False,
                "properties": {p.name: p.json_schema() for p in d.params},
            }}},
        })
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://rnn-studio.example/schema/project-v1.json",
        "title": "RNN Studio project (format v1)",
        "type": "object",
        "required": ["format", "version", "blocks"],
        "properties": {
            "format": {"const": FORMAT_NAME},
            "version": {"const": FORMAT_VERSION},
            "name": {"type": "string"},
            "blocks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "type"],
                    "properties": {
                        "id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_\\-]{0,63}$"},
                        "type": {"enum": list(CATALOG)},
                        "params": {"type": "object"},
                    },
                    "allOf": block_variants,
                },
            },
            "links": {
                "type": "array",
                "description": "[from, to] pairs; for blocks with several inputs, link order is input order.",
                "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
            },
            "layout": {"type": "object", "description": "GUI-only: block positions and view; ignored by tools.",
                       "properties": {"blocks": {"type": "object", "additionalProperties": {
                           "type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}}}},
            "training": {"type": "object", "description": "Training settings (see docs/project-format.md)."},
        },
    }
