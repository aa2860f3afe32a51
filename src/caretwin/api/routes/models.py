"""The twin definition format: examples, schema, validation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from caretwin.api.deps import ModelRead
from caretwin.services.models import list_examples, validate_text

router = APIRouter(tags=["models"])


class ValidateRequest(BaseModel):
    definition: str = Field(description="the twin definition as YAML (or JSON) text")


@router.get("/examples")
def examples(ctx: ModelRead) -> JSONResponse:
    """The example models shipped with CareTwin (names a simulation may ask for)."""
    return JSONResponse({"items": [e.to_dict() for e in list_examples(ctx)]})


@router.get("/schema")
def schema(ctx: ModelRead) -> dict[str, Any]:
    """The JSON Schema of the twin definition format (a constant: no service to call)."""
    from caretwin.model.definition import TwinDefinition

    return TwinDefinition.model_json_schema(by_alias=True)


@router.post("/validate")
def validate(body: ValidateRequest, ctx: ModelRead) -> JSONResponse:
    """Check a twin definition; problems (422) name their field paths."""
    return JSONResponse(validate_text(ctx, body.definition, source="request").to_dict())
